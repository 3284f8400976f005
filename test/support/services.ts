/**
 * Real services for tests. PostgreSQL and Redis listen on 127.0.0.1 here; under CI=true a suite that
 * needs one must run (a missing service fails it), otherwise it may skip with a one-line reason.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const IN_CI = process.env.CI === 'true';

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** True when the service is reachable. Under CI=true an unreachable service throws (the suite fails). */
export async function serviceAvailable(name: 'postgres' | 'redis'): Promise<boolean> {
  const url = name === 'postgres' ? PG_URL : REDIS_URL;
  const ok = await reachable(url);
  if (!ok && IN_CI) throw new Error(`${name} is not reachable at ${url}, and CI=true requires it`);
  if (!ok) console.warn(`skipping ${name} suite: ${url} is not reachable`);
  return ok;
}

export const hasPostgres = await serviceAvailable('postgres');
export const hasRedis = await serviceAvailable('redis');

/** A unique name for a test's own PostgreSQL schema or Redis key prefix. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
