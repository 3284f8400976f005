// `node bench/cpu-per-request.mjs`: CPU time per authrep of the Tollgate backend process (and of
// redis-server), a steadier figure than throughput on a shared, noisy machine. Starts Tollgate like
// bench/backend.mjs does, drives it with wrk, and reads the process's utime + stime from /proc/<pid>/stat
// (redis-server's from INFO cpu) before and after each run; divides by the requests wrk completed.
//
// Environment: CPU_SECONDS (5), CPU_ROUNDS (5), CPU_CONNECTIONS (20), CPU_MODES (redis; a comma list of
// redis, embedded), CPU_BINS (bin/tollgate.js; a comma list of entry points, e.g. an older build copied
// elsewhere, measured in interleaved rounds against each other), BENCH_REDIS_URL.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireWrk, startProcess, stopProcess } from './lib.mjs';

requireWrk();
const seconds = Number(process.env.CPU_SECONDS ?? 5);
const rounds = Number(process.env.CPU_ROUNDS ?? 5);
const connections = Number(process.env.CPU_CONNECTIONS ?? 20);
const modes = (process.env.CPU_MODES ?? 'redis').split(',');
const bins = (process.env.CPU_BINS ?? 'bin/tollgate.js').split(',');
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const fixture = new URL('./fixture-backend.yaml', import.meta.url).pathname;
const path =
  '/transactions/authrep.xml?provider_key=bench-provider-key&service_id=1001&user_key=bench-user-key&usage%5Blist_items%5D=1';
/** Runs wrk; returns { rps, requests, non2xx }. */
function wrk(url, { connections, seconds }) {
  const r = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, url], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]),
    requests: Number(/(\d+) requests in/.exec(r.stdout)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0),
  };
}

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** utime + stime of a process (all its threads), in µs. */
function cpuUs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US; // fields 14 and 15 of stat(5)
}

const { Redis } = await import('ioredis');
const probe = new Redis(redisUrl);
/** redis-server's used_cpu_user + used_cpu_sys (µs) and its count of socket reads. */
async function redisStats() {
  const info = (await probe.info('cpu')) + (await probe.info('stats'));
  const v = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return { cpuUs: (v('used_cpu_user') + v('used_cpu_sys')) * 1e6, reads: v('total_reads_processed') };
}

const prefixes = [];
const servers = [];
for (const bin of bins) {
  for (const mode of modes) {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-cpu-'));
    const env = { LOG_LEVEL: 'info', TOLLGATE_HOST: '127.0.0.1' };
    if (mode === 'redis') {
      const prefix = `benchcpu${randomBytes(3).toString('hex')}:`;
      prefixes.push(prefix);
      Object.assign(env, { REDIS_URL: redisUrl, TOLLGATE_REDIS_PREFIX: prefix });
    }
    const args = [bin, 'start', '--roles', 'backend,worker', '--backend-port', '0', '--data-dir', dir];
    const p = await startProcess('node', [...args, '--config', fixture], { env, role: 'backend' });
    servers.push({ name: `${mode} ${bin}`, mode, dir, ...p, runs: [] });
  }
}

try {
  for (const s of servers) wrk(`http://127.0.0.1:${s.port}${path}`, { connections, seconds: 2 }); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const s of servers) {
      const c0 = cpuUs(s.child.pid);
      const r0 = await redisStats();
      const x = wrk(`http://127.0.0.1:${s.port}${path}`, { connections, seconds });
      const c1 = cpuUs(s.child.pid);
      const r1 = await redisStats();
      const run = {
        rps: x.rps,
        us: (c1 - c0) / x.requests,
        redisUs: (r1.cpuUs - r0.cpuUs) / x.requests,
        // Requests per read of redis-server (all its clients): how well the calls are batched.
        perRead: x.requests / (r1.reads - r0.reads),
      };
      s.runs.push(run);
      console.log(
        `round ${r + 1} ${s.name}: ${x.rps.toFixed(0)} req/s, ${run.us.toFixed(1)} µs CPU/req` +
          (s.mode === 'redis'
            ? `, redis-server ${run.redisUs.toFixed(1)} µs/req, ${run.perRead.toFixed(1)} req/redis read`
            : '') +
          ` (non-2xx ${x.non2xx})`,
      );
    }
  }
} finally {
  for (const s of servers) {
    await stopProcess(s);
    rmSync(s.dir, { recursive: true, force: true });
  }
  for (const prefix of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await probe.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await probe.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  probe.disconnect();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\nwrk -t1 -c${connections}, ${rounds} interleaved rounds of ${seconds} s; medians:`);
for (const s of servers) {
  const m = (k) => median(s.runs.map((x) => x[k]));
  console.log(
    `${s.name}: ${m('us').toFixed(1)} µs CPU/req [${s.runs.map((x) => x.us.toFixed(1)).join(' ')}]` +
      (s.mode === 'redis'
        ? `, redis-server ${m('redisUs').toFixed(1)} µs/req, ${m('perRead').toFixed(1)} req/read`
        : '') +
      `, ${m('rps').toFixed(0)} req/s`,
  );
}
