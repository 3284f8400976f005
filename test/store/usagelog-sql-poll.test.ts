// The SQL usage log's blocked reads across instances (as across processes) on one SQLite file: appends
// of another instance are found by polling, which backs off while the stream stays empty and starts
// over after a delivery; this instance's own appends wake a blocked read of their stream at once.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/store/ports.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { SqlUsageLog } from '../../src/store/usagelog/sql.js';
import { type SqlDatabase, sqliteDatabase } from '../contract/fixtures.js';

let db: SqlDatabase;
let stores: SqlStore[];
let reader: SqlUsageLog;
let writer: SqlUsageLog;

beforeEach(async () => {
  db = sqliteDatabase();
  stores = [await db.open(), await db.open()];
  reader = new SqlUsageLog(stores[0]!.db, { pollMs: 10, maxPollMs: 320 });
  writer = new SqlUsageLog(stores[1]!.db);
});
afterEach(async () => {
  await reader.close();
  await writer.close();
  for (const s of stores) await s.close();
  await db.drop();
});

const ids = (ds: readonly Delivery[]) => ds.map((d) => d.record.id);

describe('SqlUsageLog polling', () => {
  it('backs off while the stream stays empty, finds another instance’s append, then starts over', async () => {
    // About 1.2 s blocked on an empty stream: waits of 10, 20, 40 … 320 ms (about 9 looks), where a
    // fixed 10 ms poll would have looked about 120 times.
    expect(await reader.read('reports', 'g', 'c', 10, 1200)).toEqual([]);
    const idle = reader.takes;
    expect(idle).toBeGreaterThanOrEqual(4);
    expect(idle).toBeLessThanOrEqual(16);

    // Another instance appends while this one is blocked: found at the next look (within one 320 ms wait).
    const blocked = reader.read('reports', 'g', 'c', 10, 5000);
    await new Promise((r) => setTimeout(r, 50));
    await writer.append('reports', [{ id: 'r1', payload: { n: 1 } }]);
    expect(ids(await blocked)).toEqual(['r1']);

    // A delivery resets the wait: 700 ms on an empty stream look at 0, 10, 30, 70, 150, 310, 630 and 700
    // ms (8 looks); still backed off at 320 ms it would be 0, 320, 640 and 700 (4).
    const before = reader.takes;
    expect(await reader.read('reports', 'g', 'c', 10, 700)).toEqual([]);
    expect(reader.takes - before).toBeGreaterThanOrEqual(6);
  });

  it('wakes a blocked read at once on this instance’s own append, whatever the backoff', async () => {
    await reader.read('reports', 'g', 'c', 10, 700); // backed off to 320 ms
    const started = reader.takes;
    const blocked = reader.read('reports', 'g', 'c', 10, 5000);
    await new Promise((r) => setTimeout(r, 10));
    await reader.append('reports', [{ id: 'own', payload: null }]);
    expect(ids(await blocked)).toEqual(['own']);
    // Woken by the append itself, not by a later poll: one look before it, one after.
    expect(reader.takes - started).toBeLessThanOrEqual(2);
  });

  it('an append to one stream does not wake a blocked read of the other', async () => {
    // A gateway appends usage events every 100 ms under load; the worker's blocked `reports` read must
    // keep backing off instead of looking again after each of them.
    const started = reader.takes;
    const blocked = reader.read('reports', 'g', 'c', 10, 700);
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 25));
      await reader.append('events', [{ id: `e${i}`, payload: null }]);
    }
    expect(await blocked).toEqual([]);
    // Backing off (0, 10, 30, 70, 150, 310, 630, 700 ms: about 8 looks); woken by each append it
    // would have looked about 20 times more.
    expect(reader.takes - started).toBeLessThanOrEqual(12);
  });
});
