/** Real backing services for the contract suites: a temp SQLite file, an own PG schema, an own Redis prefix. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { deleteAllKeys, openRedis, type Redis } from '../../src/store/redis.js';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { PG_URL, REDIS_URL, uniqueName } from '../support/services.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true or `withinMs` passes; returns the last answer. */
export async function eventually(
  probe: () => Promise<boolean> | boolean,
  withinMs: number,
): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

/** A SQL database of one test: `open()` opens (again) the same database. */
export interface SqlDatabase {
  open(): Promise<SqlStore>;
  drop(): Promise<void>;
}

export function sqliteDatabase(): SqlDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-contract-'));
  return {
    open: () => openSqlStore({ url: join(dir, 'test.db') }),
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function postgresDatabase(): SqlDatabase {
  const schema = uniqueName('t');
  return {
    open: () => openSqlStore({ url: PG_URL, schema, poolSize: 4 }),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A Redis key space of one test: `connect()` opens connections under its prefix. */
export interface RedisSpace {
  readonly prefix: string;
  connect(): Redis;
  drop(): Promise<void>;
}

export function redisSpace(): RedisSpace {
  const prefix = `${uniqueName('t')}:`;
  return {
    prefix,
    connect: () => openRedis(REDIS_URL, { keyPrefix: prefix }),
    drop: async () => {
      const c = openRedis(REDIS_URL, { keyPrefix: prefix });
      try {
        await deleteAllKeys(c);
      } finally {
        c.disconnect();
      }
    },
  };
}
