// Shared helpers of the benchmarks: child processes that report their port, wrk runs and parsing.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Spawns a process and resolves with its port once it logs a `listening` line for `role`. */
export function startProcess(cmd, args, { env = {}, role, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not start: ${buf.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (!line.includes('listening')) continue;
        try {
          const j = JSON.parse(line);
          if (j.msg === 'listening' && (!role || j.role === role)) {
            clearTimeout(timer);
            child.stdout.off('data', onData);
            child.stdout.resume();
            child.stderr.resume();
            resolve({ child, port: j.port });
            return;
          }
        } catch {
          /* not JSON */
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => {
      buf += d.toString();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}: ${buf.slice(-2000)}`));
    });
  });
}

export async function stopProcess(p) {
  if (p.child.exitCode !== null) return;
  const done = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  await done;
}

export function requireWrk() {
  const r = spawnSync('wrk', ['--version']);
  if (r.error) {
    console.error('wrk is needed for the benchmarks: apt-get install -y wrk');
    process.exit(2);
  }
}

/** Runs wrk and returns { rps, p50Ms, p99Ms, errors }. */
export function wrk(url, { threads = 1, connections = 50, seconds = 10 } = {}) {
  const r = spawnSync('wrk', [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', url], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const lat = (pct) => {
    const m = new RegExp(`\\s${pct}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors:.*/.exec(out)?.[0] ?? '';
  return { rps, p50Ms: lat(50), p99Ms: lat(99), non2xx, sockErr };
}

/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a file. */
export function writeSection(file, name, text) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  let doc = readFileSync(file, 'utf8');
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  const block = `${start}\n${text}\n${end}`;
  doc = i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + end.length) : `${doc}\n${block}\n`;
  writeFileSync(file, doc);
  // The docs are linted with the code: lay the new tables out as the formatter would.
  spawnSync('npx', ['biome', 'format', '--write', file], { stdio: 'ignore' });
}

// ---- Additions for bench:gateway ----

/** Runs wrk with extra request headers and/or a Lua script; same result shape as `wrk()`. */
export function wrkWith(url, { threads = 1, connections = 50, seconds = 10, headers = [], script } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s'];
  for (const h of headers) args.push('-H', h);
  if (script) args.push('-s', script);
  const r = spawnSync('wrk', [...args, url], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  return parseWrk(r.stdout);
}

/** Parses wrk's `--latency` report into { rps, p50Ms, p99Ms, non2xx, sockErr, requests }. */
export function parseWrk(out) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const lat = (pct) => {
    const m = new RegExp(`\\s${pct}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors:.*/.exec(out)?.[0] ?? '';
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  return { rps, p50Ms: lat(50), p99Ms: lat(99), non2xx, sockErr, requests };
}

/** Median (upper median for even counts) of numbers, NaN for none. */
export function median(xs) {
  if (xs.length === 0) return Number.NaN;
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** A TCP port free at the time of asking (for servers that cannot report the port they bound). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Exits with an install hint when nginx is missing (like requireWrk); returns its path. */
export function requireNginx() {
  const candidates = process.env.NGINX_BIN ? [process.env.NGINX_BIN] : ['/usr/sbin/nginx', 'nginx'];
  for (const bin of candidates) {
    const r = spawnSync(bin, ['-v']);
    if (!r.error) return bin;
  }
  console.error('nginx is needed for bench:gateway: apt-get install -y nginx-light');
  process.exit(2);
}

/**
 * Starts nginx as a child process from a config generated in `dir` (never the system one): one worker,
 * no master, no daemon, logs and pid in `dir`, `proxy_pass` to `upstreamPort` over keep-alive.
 * Resolves with { child, port } like startProcess, once nginx answers.
 */
export async function startNginx(bin, dir, upstreamPort, { timeoutMs = 10_000 } = {}) {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const child = spawn(bin, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const ok = await new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return { child, port };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  let log = '';
  try {
    log = readFileSync(join(dir, 'error.log'), 'utf8');
  } catch {
    /* none */
  }
  throw new Error(`nginx did not start: ${out}${log}`.slice(-2000));
}

/** Deletes every Redis key under `prefix` (a benchmark run's keys go with it). */
export async function cleanRedisPrefix(url, prefix) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
