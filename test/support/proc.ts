/** Runs the real `tollgate` command in child processes: start (waiting for its listeners), apply, export. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = `${ROOT}bin/tollgate.js`;

export interface Started {
  readonly child: ChildProcess;
  readonly ports: Record<string, number>;
  output(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash) and wait. */
  kill(): Promise<void>;
}

/**
 * `tollgate start` on data dir `dir` with config file `config` and `roles`, every listener the roles open
 * on port 0; resolves once they all listen.
 */
export function startRoles(
  dir: string,
  config: string,
  roles: string[],
  env: Record<string, string> = {},
): Promise<Started> {
  const listeners = roles.filter((r) => r === 'admin' || r === 'backend' || r === 'gateway');
  const ports = listeners.flatMap((r) => [`--${r}-port`, '0']);
  return startTollgate(
    ['--data-dir', dir, '--config', config, '--roles', roles.join(','), ...ports],
    env,
    listeners,
  );
}

/** Starts `tollgate start ARGS` and resolves once a `listening` line was logged for every role in `roles`. */
export function startTollgate(
  args: string[],
  env: Record<string, string>,
  roles: string[],
): Promise<Started> {
  const child = spawn(process.execPath, [BIN, 'start', ...args], {
    env: { ...process.env, TOLLGATE_HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ports: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tollgate did not start in time:\n${out}`));
    }, 30_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`tollgate exited (${code}) before listening:\n${out}`));
    };
    child.once('exit', onExit);
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      for (const line of text.split('\n')) {
        if (!line.includes('"listening"')) continue;
        try {
          const j = JSON.parse(line) as { msg?: string; role?: string; port?: number };
          if (j.msg === 'listening' && j.role && j.port) ports[j.role] = j.port;
        } catch {
          // partial line: the next chunk completes it only in theory; pino writes whole lines.
        }
      }
      if (roles.every((r) => ports[r])) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve({
          child,
          ports,
          output: () => out,
          async stop() {
            if (child.exitCode !== null) return child.exitCode;
            child.kill('SIGTERM');
            const [code] = (await once(child, 'exit')) as [number | null];
            return code;
          },
          async kill() {
            if (child.exitCode !== null) return;
            child.kill('SIGKILL');
            await once(child, 'exit');
          },
        });
      }
    });
  });
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tollgate ARGS` to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(stdin ?? '');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
