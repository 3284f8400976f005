// Shared helpers of the benchmarks: child processes that report their port, wrk runs and parsing.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

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
}
