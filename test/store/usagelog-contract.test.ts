/** Runs the UsageLog contract against memory, SQL (SQLite and PostgreSQL) and Redis Streams. */
import { describe } from 'vitest';
import type { UsageLog } from '../../src/store/ports.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { createMemoryUsageLogState, MemoryUsageLog } from '../../src/store/usagelog/memory.js';
import { RedisUsageLog } from '../../src/store/usagelog/redis.js';
import { SqlUsageLog } from '../../src/store/usagelog/sql.js';
import { postgresDatabase, redisSpace, type SqlDatabase, sqliteDatabase } from '../contract/fixtures.js';
import { type UsageLogFactoryOptions, usageLogContract } from '../contract/usagelog.contract.js';
import { hasPostgres, hasRedis } from '../support/services.js';

usageLogContract('memory', async ({ reclaimAfterMs }) => {
  const state = createMemoryUsageLogState();
  const opened: UsageLog[] = [];
  const open = async () => {
    const log = new MemoryUsageLog(state, { reclaimAfterMs });
    opened.push(log);
    return log;
  };
  return {
    store: await open(),
    reopen: open,
    cleanup: async () => {
      for (const l of opened) await l.close();
    },
  };
});

function sql(db: SqlDatabase) {
  return async ({ reclaimAfterMs }: UsageLogFactoryOptions) => {
    const opened: { sql: SqlStore; log: UsageLog }[] = [];
    const open = async () => {
      const store = await db.open();
      const log = new SqlUsageLog(store.db, { reclaimAfterMs, pollMs: 25 });
      opened.push({ sql: store, log });
      return log;
    };
    return {
      store: await open(),
      reopen: open,
      cleanup: async () => {
        for (const o of opened) {
          await o.log.close();
          await o.sql.close();
        }
        await db.drop();
      },
    };
  };
}

usageLogContract('sql (SQLite)', (o) => sql(sqliteDatabase())(o));

describe.skipIf(!hasPostgres)('PostgreSQL', () => {
  usageLogContract('sql (PostgreSQL)', (o) => sql(postgresDatabase())(o));
});

describe.skipIf(!hasRedis)('Redis', () => {
  usageLogContract('redis streams', async ({ reclaimAfterMs }) => {
    const space = redisSpace();
    const opened: UsageLog[] = [];
    const open = async () => {
      const log = new RedisUsageLog(space.connect(), { reclaimAfterMs });
      opened.push(log);
      return log;
    };
    return {
      store: await open(),
      reopen: open,
      cleanup: async () => {
        for (const l of opened) await l.close();
        await space.drop();
      },
    };
  });
});
