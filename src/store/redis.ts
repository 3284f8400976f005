/**
 * Redis connections for the data-plane adapters: one factory that applies the deployment's key prefix,
 * a Lua script runner (EVALSHA, loading on NOSCRIPT), and the key-sweeping helper tests clean up with.
 */
import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

export type { Redis } from 'ioredis';

export interface OpenRedisOptions {
  /**
   * Prepended by ioredis to every key of every command (and by the adapters to their pub/sub channels).
   * It isolates a deployment, or a test. It must not contain `{` or `}`: Redis Cluster hashes the first
   * `{…}` of a key, so braces in the prefix would override the application hash tags of counter keys.
   */
  readonly keyPrefix: string;
  /** ioredis settings on top of the defaults (fail-fast connections pass theirs here). */
  readonly client?: RedisOptions;
}

/**
 * Opens a connection. The adapter that receives it owns it (its `close()` quits it); adapters that need
 * a blocking or subscriber connection `duplicate()` it, which keeps the prefix.
 */
export function openRedis(url: string, opts: OpenRedisOptions): Redis {
  assertPrefix(opts.keyPrefix);
  // Auto-pipelining: commands issued in one tick (e.g. concurrent authreps' counter scripts) go out in
  // one write, and replies come back in one read: fewer syscalls on both sides under load.
  const c = new Redis(url, {
    keyPrefix: opts.keyPrefix,
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    ...opts.client,
  });
  quietErrors(c);
  return c;
}

/**
 * Connection errors surface where they matter — as failed commands, which the callers turn into store
 * failures and log — so the client's own 'error' events are not reported twice (without a listener,
 * ioredis prints "Unhandled error event" for every reconnect attempt while Redis is away).
 */
export function quietErrors(c: Redis): Redis {
  c.on('error', ignore);
  return c;
}

function ignore(): void {}

/** Throws unless `prefix` is usable as a key prefix (see OpenRedisOptions.keyPrefix). */
export function assertPrefix(prefix: string): void {
  if (/[{}]/.test(prefix)) throw new Error(`redis key prefix must not contain '{' or '}': ${prefix}`);
}

/** The key prefix a connection applies (ioredis does not prefix pub/sub channels or SCAN patterns). */
export function prefixOf(client: Redis): string {
  return client.options.keyPrefix ?? '';
}

/** Quits a connection, falling back to a hard disconnect when it is already broken. */
export async function quitQuietly(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/**
 * A Lua script run with EVALSHA. The SHA is computed locally; when the server does not know the script
 * (first use, restart, failover) it is loaded with SCRIPT LOAD and the call retried once.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      await client.script('LOAD', this.source);
      return client.evalsha(this.sha, keys.length, ...keys, ...args);
    }
  }
}

/** Glob-escapes a literal for SCAN MATCH. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Deletes every key under the connection's prefix (tests' cleanup, `tollgate` resets). Uses SCAN, so it
 * is safe on a live server, and UNLINK, so large keys are freed in the background.
 */
export async function deleteAllKeys(client: Redis): Promise<number> {
  const prefix = prefixOf(client);
  if (prefix === '') throw new Error('refusing to delete every key of a Redis without a key prefix');
  // SCAN patterns are not prefixed by ioredis, but the keys given to UNLINK are: strip the prefix.
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys.map((k) => k.slice(prefix.length)));
  } while (cursor !== '0');
  return deleted;
}
