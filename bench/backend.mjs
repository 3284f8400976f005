// `npm run bench:backend`: authrep throughput and p99 through the HTTP API, embedded and on Redis,
// against a bare node:http server answering a fixed XML body — all in this run, with wrk. The three
// servers run side by side and are measured in interleaved rounds (bare, embedded, Redis, bare, …);
// each figure is the median of its rounds, so a noisy moment on the machine hits all three alike.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireWrk, startProcess, stopProcess, writeSection, wrk } from './lib.mjs';

requireWrk();
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const fixture = new URL('./fixture-backend.yaml', import.meta.url).pathname;
const path =
  '/transactions/authrep.xml?provider_key=bench-provider-key&service_id=1001&user_key=bench-user-key&usage%5Blist_items%5D=1';

function tollgate(extraEnv) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const args = ['bin/tollgate.js', 'start', '--roles', 'backend,worker', '--backend-port', '0'];
  return startProcess('node', [...args, '--data-dir', dir, '--config', fixture], {
    env: { LOG_LEVEL: 'info', TOLLGATE_HOST: '127.0.0.1', ...extraEnv },
    role: 'backend',
  }).then((x) => ({ ...x, dir }));
}

const redisPrefix = `bench${randomBytes(3).toString('hex')}:`;
const servers = {
  bare: await startProcess('node', ['bench/bare-server.mjs'], { role: 'bare' }),
  embedded: await tollgate({}),
  redis: await tollgate({ REDIS_URL: redisUrl, TOLLGATE_REDIS_PREFIX: redisPrefix }),
};
const url = (name) => `http://127.0.0.1:${servers[name].port}${name === 'bare' ? '/' : path}`;
const runs = { bare: [], embedded: [], redis: [] };
try {
  for (const name of Object.keys(servers)) wrk(url(name), { connections, seconds: 2 }); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const name of Object.keys(servers)) {
      const x = wrk(url(name), { connections, seconds });
      runs[name].push(x);
      console.log(
        `round ${r + 1} ${name}: ${x.rps.toFixed(0)} req/s, p99 ${x.p99Ms} ms, non-2xx ${x.non2xx} ${x.sockErr}`,
      );
    }
  }
} finally {
  for (const s of Object.values(servers)) {
    await stopProcess(s);
    if (s.dir) rmSync(s.dir, { recursive: true, force: true });
  }
  // The Redis run's keys go with it.
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const med = Object.fromEntries(
  Object.entries(runs).map(([k, rs]) => [
    k,
    {
      rps: median(rs.map((x) => x.rps)),
      p50: median(rs.map((x) => x.p50Ms)),
      p99: median(rs.map((x) => x.p99Ms)),
      non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
    },
  ]),
);
const row = (label, k, target) =>
  `| ${label} | ${med[k].rps.toFixed(0)} | ${runs[k].map((x) => x.rps.toFixed(0)).join(' / ')} | ${med[k].p50.toFixed(2)} | ${med[k].p99.toFixed(2)} | ${(med[k].rps / med.bare.rps).toFixed(2)} | ${target} | ${med[k].non2xx} |`;
const table = [
  `Run ${new Date().toISOString()} on ${process.platform}/${process.arch}, Node ${process.version}; wrk -t1 -c${connections}, ${rounds} interleaved rounds of ${seconds} s (after a 2 s warm-up each), one server process each; medians.`,
  '',
  '| server | req/s (median) | req/s per round | p50 ms | p99 ms | ratio to bare | target | non-2xx |',
  '| --- | ---: | --- | ---: | ---: | ---: | --- | ---: |',
  row('bare node:http, fixed XML (baseline)', 'bare', '—'),
  row('Tollgate authrep, embedded', 'embedded', '≥ 0.60'),
  row('Tollgate authrep, Redis', 'redis', '≥ 0.40'),
].join('\n');
console.log(`\n${table}`);
if (process.env.BENCH_WRITE !== '0') writeSection('docs/benchmarks.md', 'bench-backend', table);
