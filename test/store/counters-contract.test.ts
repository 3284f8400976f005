/** Runs the CounterStore contract against memory, memory persisted to SQLite / PostgreSQL, and Redis. */
import { describe } from 'vitest';
import { MemoryCounterStore } from '../../src/store/counters/memory.js';
import { RedisCounterStore } from '../../src/store/counters/redis.js';
import { SqlCounterPersistence } from '../../src/store/counters/sql-persistence.js';
import type { CounterStore } from '../../src/store/ports.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { counterStoreContract } from '../contract/counters.contract.js';
import { postgresDatabase, redisSpace, type SqlDatabase, sqliteDatabase } from '../contract/fixtures.js';
import { hasPostgres, hasRedis } from '../support/services.js';

counterStoreContract('memory', async () => {
  const store = await MemoryCounterStore.open();
  return { store, cleanup: () => store.close() };
});

/** A memory store persisted to `db`; `reopen` opens a new store (and connection) on the same database. */
async function persisted(db: SqlDatabase) {
  const opened: { sql: SqlStore; store: CounterStore }[] = [];
  const open = async () => {
    const sql = await db.open();
    const store = await MemoryCounterStore.open({ persistence: new SqlCounterPersistence(sql.db) });
    opened.push({ sql, store });
    return store;
  };
  const store = await open();
  return {
    store,
    reopen: open,
    cleanup: async () => {
      for (const o of opened) {
        await o.store.close();
        await o.sql.close();
      }
      await db.drop();
    },
  };
}

counterStoreContract('memory + SqlCounterPersistence (SQLite)', () => persisted(sqliteDatabase()));

describe.skipIf(!hasPostgres)('PostgreSQL', () => {
  counterStoreContract('memory + SqlCounterPersistence (PostgreSQL)', () => persisted(postgresDatabase()));
});

describe.skipIf(!hasRedis)('Redis', () => {
  counterStoreContract('redis (3 connections)', async () => {
    const space = redisSpace();
    const opened: CounterStore[] = [];
    const open = async () => {
      const s = new RedisCounterStore(space.connect());
      opened.push(s);
      return s;
    };
    const [store, ...peers] = [await open(), await open(), await open()];
    return {
      store: store!,
      peers,
      reopen: open,
      cleanup: async () => {
        for (const s of opened) await s.close();
        await space.drop();
      },
    };
  });
});
