// `npm run bench:backend`: authrep throughput and p99 through the HTTP API, embedded and on Redis,
// against a bare node:http server answering a fixed XML body, all measured in this run with wrk.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireWrk, startProcess, stopProcess, writeSection, wrk } from './lib.mjs';

requireWrk();
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const fixture = new URL('./fixture-backend.yaml', import.meta.url).pathname;
const path =
  '/transactions/authrep.xml?provider_key=bench-provider-key&service_id=1001&user_key=bench-user-key&usage%5Blist_items%5D=1';

async function measure(name, proc) {
  const url = `http://127.0.0.1:${proc.port}${name === 'bare' ? '/' : path}`;
  wrk(url, { connections, seconds: 2 }); // warm-up
  const r = wrk(url, { connections, seconds });
  await stopProcess(proc);
  console.log(
    `${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, non-2xx ${r.non2xx} ${r.sockErr}`,
  );
  return r;
}

function tollgate(extraEnv) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const p = startProcess(
    'node',
    [
      'bin/tollgate.js',
      'start',
      '--roles',
      'backend,worker',
      '--backend-port',
      '0',
      '--data-dir',
      dir,
      '--config',
      fixture,
    ],
    { env: { LOG_LEVEL: 'info', TOLLGATE_HOST: '127.0.0.1', ...extraEnv }, role: 'backend' },
  );
  return p.then((x) => ({ ...x, dir }));
}

const results = {};
results.bare = await measure('bare', await startProcess('node', ['bench/bare-server.mjs'], { role: 'bare' }));
const emb = await tollgate({});
results.embedded = await measure('embedded', emb);
rmSync(emb.dir, { recursive: true, force: true });
const red = await tollgate({
  REDIS_URL: redisUrl,
  TOLLGATE_REDIS_PREFIX: `bench${randomBytes(3).toString('hex')}:`,
});
results.redis = await measure('redis', red);
rmSync(red.dir, { recursive: true, force: true });

const ratio = (x) => (x.rps / results.bare.rps).toFixed(2);
const row = (name, r, target) =>
  `| ${name} | ${r.rps.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r === results.bare ? '1.00' : ratio(r)} | ${target} | ${r.non2xx} |`;
const table = [
  `Run ${new Date().toISOString()} on ${process.platform}/${process.arch}, Node ${process.version}; wrk -t1 -c${connections} -d${seconds}s (after a 2 s warm-up), one server process each.`,
  '',
  '| server | req/s | p50 ms | p99 ms | ratio to bare | target | non-2xx |',
  '| --- | ---: | ---: | ---: | ---: | --- | ---: |',
  row('bare node:http, fixed XML (baseline)', results.bare, '—'),
  row('Tollgate authrep, embedded', results.embedded, '≥ 0.60'),
  row('Tollgate authrep, Redis', results.redis, '≥ 0.40'),
].join('\n');
console.log(`\n${table}`);
if (process.env.BENCH_WRITE !== '0') writeSection('docs/benchmarks.md', 'bench-backend', table);
