// The usage-log janitor drops entries past retention, per stream, on the real embedded (SQLite) log.
import { afterEach, describe, expect, it } from 'vitest';
import { RETENTION_MS, UsageLogJanitor } from '../../src/cli/janitor.js';
import { createLogger } from '../../src/obs/logger.js';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { SqlUsageLog } from '../../src/store/usagelog/sql.js';

describe('usage log janitor', () => {
  let sql: SqlStore | undefined;
  afterEach(async () => sql?.close());

  it('keeps entries younger than their stream retention and drops older ones', async () => {
    sql = await openSqlStore({ url: ':memory:' });
    const log = new SqlUsageLog(sql.db);
    await log.append('events', [{ id: 'e1', payload: { n: 1 } }]);
    await log.append('reports', [{ id: 'r1', payload: { n: 1 } }]);
    let now = Date.now();
    const janitor = new UsageLogJanitor(log, createLogger('silent'), () => now);
    expect(await janitor.sweep()).toBe(0);
    now += RETENTION_MS.reports + 1000; // reports expire first (2 days), events are kept (7 days)
    expect(await janitor.sweep()).toBe(1);
    now += RETENTION_MS.events;
    expect(await janitor.sweep()).toBe(1);
    await log.close();
  });
});
