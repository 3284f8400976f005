// WAL checkpoints on their own thread (src/store/sql/checkpointer.ts) over a real SQLite file: the
// event loop's connection stops checkpointing inline, the thread keeps the log from growing, nothing
// written is lost across close and reopen, and a thread that cannot start leaves SQLite's own on.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../../src/store/sql/checkpointer.js';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';

const autoCheckpoint = async (store: SqlStore): Promise<number> => {
  const r = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db);
  return r.rows[0]?.wal_autocheckpoint ?? Number.NaN;
};

/** Writes `rows` rows of ~1 KiB each, one transaction per 100 rows, into a table of its own. */
async function write(store: SqlStore, from: number, rows: number): Promise<void> {
  await sql`create table if not exists blob_rows (id integer primary key, body text not null)`.execute(
    store.db,
  );
  for (let i = from; i < from + rows; i += 100) {
    await store.db.transaction().execute(async (tx) => {
      for (let j = i; j < Math.min(i + 100, from + rows); j++) {
        await sql`insert into blob_rows (id, body) values (${j}, ${`row ${j} `.padEnd(1000, 'x')})`.execute(
          tx,
        );
      }
    });
  }
}

const until = async (what: string, ok: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('SQLite WAL checkpoints off the event loop', () => {
  let dir: string;
  let file: string;
  const open: SqlStore[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-ckpt-'));
    file = join(dir, 'tollgate.db');
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('turns inline checkpoints off and checkpoints the log from its thread', async () => {
    const store = await openSqlStore({ url: file, checkpointMs: 50 });
    open.push(store);
    const cp = store.checkpointer();
    expect(cp).toBeInstanceOf(WalCheckpointer);
    expect(await autoCheckpoint(store)).toBe(0);

    // Five bursts of ~600 KiB, each followed by a complete checkpoint: the log is reused from its start
    // once checkpointed, so it never needs much more than one burst's frames. Without checkpoints it
    // would hold a frame for every page of the database (its file only grows).
    for (let burst = 0; burst < 5; burst++) {
      await write(store, burst * 600, 600);
      // A checkpoint already under way during the burst's last commit may report a complete log that
      // does not hold that commit yet: count only runs that start after its answer has had time to come.
      await new Promise((r) => setTimeout(r, 200));
      const runsBefore = cp?.stats().runs ?? 0;
      await until(`a complete checkpoint after burst ${burst}`, () => {
        const s = cp?.stats();
        return (
          s?.last !== undefined && s.runs > runsBefore && s.last.log > 0 && s.last.checkpointed === s.last.log
        );
      });
    }
    expect(cp?.stats().failures).toBe(0);
    const wal = statSync(`${file}-wal`).size;
    const db = statSync(file).size;
    expect(db).toBeGreaterThan(3_000_000);
    expect(wal).toBeLessThan(0.5 * db);
  });

  it('loses nothing across close and reopen, and removes the log on close', async () => {
    const store = await openSqlStore({ url: file, checkpointMs: 50 });
    await write(store, 0, 1500);
    await store.close();
    expect(existsSync(`${file}-wal`)).toBe(false);

    const again = await openSqlStore({ url: file, checkpointMs: 50 });
    open.push(again);
    const r = await sql<{
      n: number;
      top: number;
    }>`select count(*) as n, max(id) as top from blob_rows`.execute(again.db);
    expect(r.rows[0]).toEqual({ n: 1500, top: 1499 });
  });

  it('checkpoints inline when asked to (checkpointMs 0) or for :memory:', async () => {
    const inline = await openSqlStore({ url: file, checkpointMs: 0 });
    open.push(inline);
    expect(inline.checkpointer()).toBeUndefined();
    expect(await autoCheckpoint(inline)).toBe(1000);

    const mem = await openSqlStore({ url: ':memory:' });
    open.push(mem);
    expect(mem.checkpointer()).toBeUndefined();
  });

  it('a thread that cannot open its file fails to start with the reason', async () => {
    await expect(WalCheckpointer.start(join(dir, 'missing.db'))).rejects.toThrow(
      /WAL checkpoint thread did not start on .*missing\.db/,
    );
  });

  it('stop() ends the thread and is safe to call twice', async () => {
    const store = await openSqlStore({ url: file, checkpointMs: 50 });
    open.push(store);
    const cp = store.checkpointer();
    await cp?.stop();
    await cp?.stop();
    // The store still works on its own connection, and its close() does not wait on the stopped thread.
    await write(store, 0, 10);
    const r = await sql<{ n: number }>`select count(*) as n from blob_rows`.execute(store.db);
    expect(r.rows[0]?.n).toBe(10);
  });
});
