/**
 * Builds the storage adapters from the environment: the embedded default (SQLite file, memory auth view
 * and counters persisted to SQLite, usage log in SQLite) or the distributed stores (PostgreSQL with
 * DATABASE_URL, Redis auth view / counters / Redis Streams usage log with REDIS_URL).
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { CachedAuthView } from '../store/authview/cached.js';
import { MemoryAuthView } from '../store/authview/memory.js';
import { RedisAuthView } from '../store/authview/redis.js';
import { MemoryCounterStore } from '../store/counters/memory.js';
import { RedisCounterStore } from '../store/counters/redis.js';
import { SqlCounterPersistence } from '../store/counters/sql-persistence.js';
import type { AuthView, CounterStore, ErrorLog, UsageLog } from '../store/ports.js';
import { openRedis } from '../store/redis.js';
import { openSqlStore, type SqlStore } from '../store/sql/db.js';
import { SqlErrorLog } from '../store/sql/error-log.js';
import { RedisUsageLog } from '../store/usagelog/redis.js';
import { SqlUsageLog } from '../store/usagelog/sql.js';
import type { Env } from './env.js';

export interface Stores {
  readonly sql: SqlStore;
  readonly authView: AuthView;
  readonly counters: CounterStore;
  readonly usageLog: UsageLog;
  readonly errorLog: ErrorLog;
  /** True when the auth view lives in this process only (it must be synced from SQL here). */
  readonly localAuthView: boolean;
  readonly describe: string;
  close(): Promise<void>;
}

export function sqliteFile(dataDir: string): string {
  return join(dataDir, 'tollgate.db');
}

/**
 * Opens the SQL store: for `start`, and alone for `apply` / `export`. A one-shot command passes
 * `checkpointMs: 0`: nothing waits on its commits, so SQLite checkpoints inline instead of on a thread.
 */
export function openSql(env: Env, dataDir: string, opts: { checkpointMs?: number } = {}): Promise<SqlStore> {
  return env.DATABASE_URL
    ? openSqlStore({ url: env.DATABASE_URL, schema: env.TOLLGATE_PG_SCHEMA })
    : openSqlStore({ url: sqliteFile(dataDir), checkpointMs: opts.checkpointMs });
}

/** Opens the Redis-backed auth view only (for `apply` to reach a running distributed deployment). */
export async function openRedisAuthView(env: Env): Promise<AuthView | null> {
  if (!env.REDIS_URL) return null;
  return RedisAuthView.open(openRedis(env.REDIS_URL, { keyPrefix: redisPrefix(env) }));
}

function redisPrefix(env: Env): string {
  return env.TOLLGATE_REDIS_PREFIX ?? 'tollgate:';
}

/** Closes stores in dependency order: what writes to SQL (counters' flush) before SQL itself. */
async function closeInOrder(...stores: { close(): Promise<void> }[]): Promise<void> {
  for (const s of stores) await s.close();
}

export async function openStores(env: Env, dataDir: string): Promise<Stores> {
  const sql = await openSql(env, dataDir);
  const errorLog = new SqlErrorLog(sql.db);
  const redisClients: Redis[] = [];
  try {
    if (env.REDIS_URL) {
      const prefix = redisPrefix(env);
      const mk = () => {
        const c = openRedis(env.REDIS_URL as string, { keyPrefix: prefix });
        redisClients.push(c);
        return c;
      };
      const inner = await RedisAuthView.open(mk());
      const authView = new CachedAuthView(inner, { maxEntries: 100_000, ttlMs: 30_000 });
      const counters = new RedisCounterStore(mk());
      const usageLog = new RedisUsageLog(mk());
      return {
        sql,
        authView,
        counters,
        usageLog,
        errorLog,
        localAuthView: false,
        describe: `${sql.dialect} + redis`,
        close: () => closeInOrder(usageLog, counters, authView, sql),
      };
    }
    const authView = new MemoryAuthView();
    const counters = await MemoryCounterStore.open({ persistence: new SqlCounterPersistence(sql.db) });
    const usageLog = new SqlUsageLog(sql.db);
    return {
      sql,
      authView,
      counters,
      usageLog,
      errorLog,
      localAuthView: true,
      describe: `${sql.dialect} + in-process counters`,
      close: () => closeInOrder(usageLog, counters, authView, sql),
    };
  } catch (err) {
    for (const c of redisClients) c.disconnect();
    await sql.close();
    throw err;
  }
}
