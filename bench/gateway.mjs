// `npm run bench:gateway`: what Tollgate's gateway costs in front of an upstream, against the same
// upstream reached directly, through nginx (one worker, keep-alive proxy_pass) and through the fastest
// bare Node proxy we know (node:http + undici dispatch, no auth) — all in this run, with wrk.
//
// Every target runs side by side and is measured in interleaved rounds (upstream, nginx, bare, Tollgate
// strict, …, then again); each figure is the median of its rounds, so a noisy moment on the machine hits
// all alike. Two phases:
//   1. peak: wrk -t1 -cBENCH_CONNECTIONS, as fast as each target answers;
//   2. paced: every target at the same constant rate, BENCH_LOAD_FRACTION (half) of the bare proxy's
//      peak, sent on a fixed schedule by a wrk Lua `delay()` script (see pacedScript); p99 there minus
//      the upstream's p99 there is the latency a proxy adds;
//   3. latency by load: the same at lower rates (BENCH_SWEEP), to show at which load each target's
//      added p99 stays within the target.
// Each wrk run also reads the target process's CPU time (user + system, /proc/<pid>/stat) before and after
// and divides by the requests wrk completed: CPU µs per call, a steadier figure than req/s on a shared VM.
//
// A reference row sits under the bare proxy: the floor, a raw byte relay on node:net that parses nothing
// (bench/floor-relay.mjs, not a usable proxy): what any Node process adds here before doing proxy work.
//
// Knobs: BENCH_SECONDS (8), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50), BENCH_PACED_SECONDS (= seconds),
// BENCH_PACED_CONNECTIONS (= connections), BENCH_LOAD_FRACTION (0.5), BENCH_REDIS_URL (redis://127.0.0.1:6379),
// BENCH_TOLLGATE (strict,strict-redis,batched,batched-redis,leased,leased-redis), BENCH_SWEEP (0.1,0.25:
// further paced rates, as fractions of the same peak, for the latency-by-load table; '' for none),
// BENCH_FLOOR=0 (leave the floor row out), BENCH_WRITE=0 (do not rewrite docs/benchmarks.md), NGINX_BIN.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  cleanRedisPrefix,
  median,
  requireNginx,
  requireWrk,
  startNginx,
  startProcess,
  stopProcess,
  writeSection,
  wrkWith,
} from './lib.mjs';

requireWrk();
const nginxBin = requireNginx();
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const pacedSeconds = Number(process.env.BENCH_PACED_SECONDS ?? seconds);
const loadFraction = Number(process.env.BENCH_LOAD_FRACTION ?? 0.5);
// Extra paced rates (fractions of the same peak) for the latency-by-load table; '' for none.
const sweepFractions = (process.env.BENCH_SWEEP ?? '0.1,0.25')
  .split(',')
  .map((x) => Number(x.trim()))
  .filter((x) => x > 0 && x !== loadFraction);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const tollgateModes = (
  process.env.BENCH_TOLLGATE ?? 'strict,strict-redis,batched,batched-redis,leased,leased-redis'
)
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

const HOST = 'gw.bench.test';
const PATH = '/items/42?user_key=bench-user-key';
const HEADERS = [`Host: ${HOST}`];
const fixture = parse(readFileSync(new URL('./fixture-gateway.yaml', import.meta.url), 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-gwbench-'));
const runId = randomBytes(3).toString('hex');
const redisPrefixes = [];
let failed = false;
let wrongAnswers = false; // a Tollgate non-2xx (or wrong body): the figures must not reach the docs
let paced = null; // { rate, connections, base } once phase 2 starts
const sweepRates = new Map(); // fraction -> req/s, once phase 3 runs
const fail = (msg) => {
  failed = true;
  console.error(`\n*** ${msg}\n`);
};

/** The Tollgate rows: mode × store, with the issue's targets (ratio to bare, ratio to nginx). */
function tollgateTarget(spec) {
  const [mode, store = 'embedded'] = spec.split('-');
  if (!['strict', 'batched', 'leased'].includes(mode) || !['embedded', 'redis'].includes(store)) {
    console.error(`BENCH_TOLLGATE: unknown "${spec}" (expected strict|batched|leased, optionally -redis)`);
    process.exit(2);
  }
  const target = mode === 'strict' ? (store === 'embedded' ? { bare: 0.85 } : {}) : { bare: 0.9, nginx: 0.6 };
  return {
    key: `tollgate-${spec}`,
    label: `Tollgate ${mode}, ${store}`,
    mode,
    store,
    target,
    tollgate: true,
  };
}

const targets = [
  { key: 'upstream', label: 'upstream direct (node:http, fixed JSON)' },
  { key: 'nginx', label: 'nginx, 1 worker, keep-alive proxy_pass' },
  { key: 'bare', label: 'bare Node proxy (node:http + undici dispatch)' },
  // Reference only (BENCH_FLOOR=0 leaves it out): the least a Node process can add; see floor-relay.mjs.
  ...(process.env.BENCH_FLOOR === '0'
    ? []
    : [{ key: 'floor', label: 'floor: raw byte relay on node:net (not a proxy)' }]),
  ...tollgateModes.map(tollgateTarget),
];
for (const t of targets) {
  t.peak = [];
  t.paced = [];
  t.sweep = new Map(); // fraction -> wrk results
}
const byKey = Object.fromEntries(targets.map((t) => [t.key, t]));

async function startTollgate(t, upstreamPort) {
  const dir = join(tmp, t.key);
  mkdirSync(dir);
  t.dir = dir;
  const cfg = structuredClone(fixture);
  const svc = cfg.tenants[0].services[0];
  svc.upstream = `http://127.0.0.1:${upstreamPort}`;
  svc.authorization = { ...svc.authorization, mode: t.mode };
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(cfg));
  // Embedded means embedded even when the caller's shell names distributed stores (undefined = unset).
  const env = {
    LOG_LEVEL: 'info',
    TOLLGATE_HOST: '127.0.0.1',
    REDIS_URL: undefined,
    DATABASE_URL: undefined,
  };
  if (t.store === 'redis') {
    const prefix = `gwbench${runId}-${t.mode}:`;
    redisPrefixes.push(prefix);
    Object.assign(env, { REDIS_URL: redisUrl, TOLLGATE_REDIS_PREFIX: prefix });
  }
  const args = ['bin/tollgate.js', 'start', '--roles', 'gateway,worker', '--gateway-port', '0'];
  return startProcess('node', [...args, '--data-dir', join(dir, 'data'), '--config', file], {
    env,
    role: 'gateway',
  });
}

/** One request as wrk sends it; resolves { status, body }. */
function probe(port) {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: PATH, headers: { host: HOST } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (err) => resolve({ status: 0, body: String(err) }));
    req.end();
  });
}

/** The telling line of a failed start (a thrown error's, or a JSON log line's message), for the table. */
function firstError(text) {
  const lines = text.split('\n').map((l) => l.trim());
  const line =
    lines.find((l) => /^[A-Za-z]*Error\b|^Error:/.test(l)) ??
    lines.find((l) => /"level":\s*(50|60)/.test(l)) ??
    lines[0] ??
    '';
  return line.slice(0, 300);
}

/**
 * wrk Lua script for a constant request rate (wrk2 is not in Debian): wrk calls `delay()` before each
 * request of each connection; the script hands out send times on one fixed schedule (`rate` per second
 * for the thread, from the first call) and returns how long this connection must wait for its slot.
 * Send times do not depend on how fast the target answers; slots that passed while every connection
 * was busy are sent as soon as connections free up (catch-up, as an open-loop client would), so the
 * achieved rate stays on the schedule unless the target cannot carry it (then it falls below: saturated).
 * wrk's timers have 1 ms resolution, so requests leave in small bursts, once per millisecond.
 */
function pacedScript(rate) {
  return `-- Constant-rate schedule of bench/gateway.mjs: ${rate} requests/s for this wrk thread.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local interval = 1000 / ${rate}
local next_slot = nil
function delay()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  local now = tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  if next_slot == nil then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval
  if wait < 0 then return 0 end
  return math.floor(wait)
end
`;
}

const alive = (t) => t.proc && !t.error && t.proc.child.exitCode === null;
const url = (t) => `http://127.0.0.1:${t.proc.port}${PATH}`;
const socketErrors = (x) => (x.sockErr.match(/\d+/g) ?? []).reduce((a, n) => a + Number(n), 0);

const steals = []; // % of the machine's CPU time taken by the hypervisor during each wrk run

/** Sleeps `ms` without returning to the event loop (measure() is synchronous, like wrk's runs). */
const settle = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** The machine's CPU time so far (all CPUs, in ticks): total and stolen by the hypervisor (/proc/stat). */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

/** CPU time (user + system, all threads) a process has used, in µs; NaN when it cannot be read. */
function cpuUs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * (1e6 / 100); // utime, stime in USER_HZ (100) ticks
  } catch {
    return Number.NaN;
  }
}

/** One wrk run against `t`, appended to `runs` (one of its lists of results); `label` names it in the log. */
function measure(t, label, runs, opts) {
  if (!alive(t)) {
    if (t.proc && !t.error) t.error = `exited with ${t.proc.child.exitCode} during the run`;
    return;
  }
  const pid = t.proc.child.pid;
  // The other proxies are paused (SIGSTOP) while this one is measured: their timers, pollers and
  // background threads would otherwise take turns on the same two CPUs. The upstream keeps running.
  const paused = targets.filter((o) => o !== t && o.key !== 'upstream' && alive(o));
  for (const o of paused) o.proc.child.kill('SIGSTOP');
  settle(250); // let the paused ones' last wake-ups pass
  const before = cpuUs(pid);
  const cpu0 = machineCpu();
  let x;
  try {
    x = wrkWith(url(t), { headers: HEADERS, ...opts });
  } finally {
    for (const o of paused) o.proc.child.kill('SIGCONT');
  }
  x.cpuUs = x.requests > 0 ? (cpuUs(pid) - before) / x.requests : Number.NaN;
  const cpu1 = machineCpu();
  x.stealPct = (100 * (cpu1.steal - cpu0.steal)) / Math.max(1, cpu1.total - cpu0.total);
  steals.push(x.stealPct);
  runs.push(x);
  console.log(
    `${label} ${t.key}: ${x.rps.toFixed(0)} req/s, p50 ${x.p50Ms} ms, p99 ${x.p99Ms} ms, ${x.cpuUs.toFixed(1)} µs CPU/call, non-2xx ${x.non2xx} ${x.sockErr}`,
  );
  if (t.tollgate && x.non2xx > 0) {
    wrongAnswers = true;
    fail(`${t.label} answered ${x.non2xx} non-2xx responses: the fixture or the gateway is wrong`);
  }
}

try {
  // ---- start everything ----
  const up = targets[0];
  up.proc = await startProcess('node', ['bench/upstream-server.mjs'], { role: 'upstream' });
  const upstreamPort = up.proc.port;
  const expected = (await probe(upstreamPort)).body;
  const nginxDir = join(tmp, 'nginx');
  mkdirSync(nginxDir);
  for (const t of targets.slice(1)) {
    try {
      if (t.key === 'nginx') t.proc = await startNginx(nginxBin, nginxDir, upstreamPort);
      else if (t.key === 'bare') {
        t.proc = await startProcess('node', ['bench/bare-proxy.mjs'], {
          env: { UPSTREAM: `http://127.0.0.1:${upstreamPort}` },
          role: 'bare-proxy',
        });
      } else if (t.key === 'floor') {
        t.proc = await startProcess('node', ['bench/floor-relay.mjs'], {
          env: { UPSTREAM: `http://127.0.0.1:${upstreamPort}` },
          role: 'floor-relay',
        });
      } else t.proc = await startTollgate(t, upstreamPort);
    } catch (err) {
      t.error = `did not start: ${firstError(String(err.message ?? err))}`;
      fail(`${t.label} ${t.error}`);
      continue;
    }
    const p = await probe(t.proc.port);
    if (p.status !== 200 || p.body !== expected) {
      t.error = `answered ${p.status}: ${p.body.slice(0, 200)}`;
      if (t.tollgate) wrongAnswers = true;
      fail(`${t.label} ${t.error} (the fixture or the gateway is wrong)`);
    }
  }

  // ---- phase 1: peak throughput, interleaved rounds ----
  for (const t of targets) if (alive(t)) wrkWith(url(t), { headers: HEADERS, connections, seconds: 2 }); // warm-up
  for (let r = 0; r < rounds; r++) {
    console.log(`-- peak round ${r + 1}/${rounds}`);
    for (const t of targets) measure(t, 'peak', t.peak, { connections, seconds });
  }

  // ---- phase 2: the same paced rate for all, about half the bare proxy's peak ----
  const base = [byKey.bare, byKey.nginx, byKey.upstream].find((t) => t.peak.length > 0);
  const peakBase = median(base.peak.map((x) => x.rps));
  const targetRate = Math.max(100, Math.round(peakBase * loadFraction));
  const pacedConnections = Number(process.env.BENCH_PACED_CONNECTIONS ?? connections);
  const script = join(tmp, 'paced.lua');
  writeFileSync(script, pacedScript(targetRate));
  for (const t of targets) {
    if (alive(t)) wrkWith(url(t), { headers: HEADERS, connections: pacedConnections, seconds: 1, script }); // warm-up
  }
  paced = { rate: targetRate, connections: pacedConnections, base: base.key };
  for (let r = 0; r < rounds; r++) {
    console.log(`-- paced round ${r + 1}/${rounds}: ~${targetRate} req/s, ${pacedConnections} connections`);
    for (const t of targets)
      measure(t, 'paced', t.paced, { connections: pacedConnections, seconds: pacedSeconds, script });
  }

  // ---- phase 3: latency by load, the same way at lower rates (BENCH_SWEEP) ----
  for (const fraction of sweepFractions) {
    const rate = Math.max(100, Math.round(peakBase * fraction));
    const sweepScript = join(tmp, `paced-${fraction}.lua`);
    writeFileSync(sweepScript, pacedScript(rate));
    sweepRates.set(fraction, rate);
    for (let r = 0; r < rounds; r++) {
      console.log(`-- paced ${fraction}× round ${r + 1}/${rounds}: ~${rate} req/s`);
      for (const t of targets) {
        if (!t.sweep.has(fraction)) t.sweep.set(fraction, []);
        measure(t, `paced ${fraction}×`, t.sweep.get(fraction), {
          connections: pacedConnections,
          seconds: pacedSeconds,
          script: sweepScript,
        });
      }
    }
  }
} finally {
  for (const t of targets) if (t.proc && t.proc.child.exitCode === null) t.proc.child.kill('SIGCONT');
  for (const t of targets) {
    if (t.proc) await stopProcess(t.proc).catch(() => undefined);
  }
  for (const prefix of redisPrefixes) {
    await cleanRedisPrefix(redisUrl, prefix).catch((err) =>
      console.error(`Redis clean-up of ${prefix}: ${err}`),
    );
  }
  rmSync(tmp, { recursive: true, force: true });
}

// ---- table ----
for (const t of targets) {
  const m = (phase, f) => median(t[phase].map(f));
  t.rps = m('peak', (x) => x.rps);
  t.p99 = m('peak', (x) => x.p99Ms);
  t.pacedRps = m('paced', (x) => x.rps);
  t.pacedP99 = m('paced', (x) => x.p99Ms);
  t.cpu = m('peak', (x) => x.cpuUs);
  t.pacedCpu = m('paced', (x) => x.cpuUs);
  t.non2xx = [...t.peak, ...t.paced].reduce((a, x) => a + x.non2xx, 0);
  t.sockErrs = [...t.peak, ...t.paced].reduce((a, x) => a + socketErrors(x), 0);
  // Below 90 % of the scheduled rate the target could not keep up: its paced p99 is a queue, not a latency.
  t.saturated = paced !== null && t.pacedRps < 0.9 * paced.rate;
}
const f0 = (v) => (Number.isFinite(v) ? v.toFixed(0) : '—');
const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '—');
const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : '—');
const signed = (v) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)}` : '—');
const { upstream, nginx, bare } = byKey;
function verdict(t) {
  if (!t.tollgate) return '—';
  const parts = [];
  let ok = true;
  if (t.target.bare !== undefined) {
    parts.push(`≥ ${t.target.bare.toFixed(2)}× bare`);
    ok &&= t.rps / bare.rps >= t.target.bare;
  }
  if (t.target.nginx !== undefined) {
    parts.push(`≥ ${t.target.nginx.toFixed(2)}× nginx`);
    ok &&= t.rps / nginx.rps >= t.target.nginx;
  }
  parts.push('+p99 ≤ 1 ms');
  ok &&= !t.saturated && t.pacedP99 - upstream.pacedP99 <= 1;
  return `${parts.join(', ')}: ${Number.isFinite(t.rps) && Number.isFinite(t.pacedP99) ? (ok ? '**met**' : '**not met**') : '—'}`;
}
const row = (t) =>
  t.error && t.peak.length === 0
    ? `| ${t.label} | ${t.error.replaceAll('|', '/')} |${' |'.repeat(11)}`
    : `| ${t.label}${t.error ? ` (${t.error.replaceAll('|', '/')})` : ''} | ${f0(t.rps)} | ${t.peak.map((x) => f0(x.rps)).join(' / ')} | ${f2(t.rps / bare.rps)} | ${f2(t.rps / nginx.rps)} | ${f1(t.cpu)} / ${f1(t.pacedCpu)} | ${f2(t.p99)} | ${f0(t.pacedRps)}${t.saturated ? ' (saturated)' : ''} | ${f2(t.pacedP99)} | ${t.key === 'upstream' ? '—' : signed(t.pacedP99 - upstream.pacedP99)} | ${t.tollgate || t.key === 'floor' ? signed(t.pacedP99 - bare.pacedP99) : '—'} | ${verdict(t)} | ${t.non2xx} / ${t.sockErrs} |`;
const table = [
  `Run ${new Date().toISOString()} on ${process.platform}/${process.arch}, Node ${process.version}, ${
    readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? '?'
  } CPUs. Peak: wrk -t1 -c${connections}, ${rounds} interleaved rounds of ${seconds} s (after a 2 s warm-up each); paced: ${paced ? `~${paced.rate} req/s (${loadFraction}× the ${paced.base === 'bare' ? 'bare proxy' : paced.base}'s peak), ${paced.connections} connections on a fixed schedule` : '—'}, ${rounds} rounds of ${pacedSeconds} s; medians. Request: \`GET ${PATH}\`, \`Host: ${HOST}\`, to every target.`,
  '',
  '| target | req/s (median) | req/s per round | × bare proxy | × nginx | CPU µs per call, peak / paced | p99 ms at peak | paced req/s | p99 ms paced | +p99 vs upstream | +p99 vs bare proxy | targets | non-2xx / socket errors |',
  '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ...targets.map(row),
].join('\n');

// Latency by load: the paced p99 and what each target adds to the upstream's, at every paced rate.
const loads = [...sweepRates.keys(), ...(paced ? [loadFraction] : [])].sort((a, b) => a - b);
const pacedAt = (t, f) => (f === loadFraction ? t.paced : (t.sweep.get(f) ?? []));
const p99At = (t, f) => median(pacedAt(t, f).map((x) => x.p99Ms));
const rateAt = (f) => (f === loadFraction ? paced?.rate : sweepRates.get(f));
const cellAt = (t, f) => {
  const runs = pacedAt(t, f);
  if (runs.length === 0) return '—';
  const sat = median(runs.map((x) => x.rps)) < 0.9 * rateAt(f) ? ' (saturated)' : '';
  const added = t.key === 'upstream' ? '' : ` (${signed(p99At(t, f) - p99At(upstream, f))})`;
  return `${f2(p99At(t, f))}${added}${sat}`;
};
const sweepTable =
  loads.length > 1
    ? [
        '',
        `p99 ms paced at each load (the same schedule, ${rounds} rounds of ${pacedSeconds} s each, medians), and in brackets what the target adds to the upstream's p99 at that load:`,
        '',
        `| target | ${loads.map((f) => `${f}× (~${rateAt(f)} req/s)`).join(' | ')} |`,
        `| --- | ${loads.map(() => '---:').join(' | ')} |`,
        ...targets
          .filter((t) => t.peak.length > 0)
          .map((t) => `| ${t.label} | ${loads.map((f) => cellAt(t, f)).join(' | ')} |`),
      ].join('\n')
    : '';
const stealLine = `\nCPU stolen by the hypervisor during the wrk runs: median ${f1(median(steals))} %, max ${f1(Math.max(...steals))} % of the machine's CPU time.`;
const report = `${table}\n${sweepTable}\n${stealLine}`;
console.log(`\n${report}`);

if (wrongAnswers) fail('Tollgate gave wrong answers (see above): docs/benchmarks.md left unchanged');
else if (process.env.BENCH_WRITE !== '0') writeSection('docs/benchmarks.md', 'bench-gateway', report);
if (failed) process.exit(1);
