// ConfigVersionWatch on a real SQLite store: every subscriber hears each poll, one query serves them
// all, polling stops when nobody follows, and `next` ends on a poll, a timeout or an abort.
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { type ConfigVersions, ConfigVersionWatch } from '../../src/store/sql/version-watch.js';

let store: SqlStore;
let watch: ConfigVersionWatch;

beforeEach(async () => {
  store = await openSqlStore({ url: ':memory:' });
  await sql`insert into tenants (id, name, provider_key, config_version, created_at, updated_at)
            values ('t1', 'one', 'pk-1', 1, 0, 0)`.execute(store.db);
  watch = new ConfigVersionWatch(store.db, 20);
});
afterEach(async () => {
  await watch.stop();
  await store.close();
});

const bump = (id: string) =>
  sql`update tenants set config_version = config_version + 1 where id = ${id}`.execute(store.db);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ConfigVersionWatch', () => {
  it('hands each poll to every subscriber, one query for all of them', async () => {
    const a: ConfigVersions[] = [];
    const b: ConfigVersions[] = [];
    const offA = watch.subscribe((v) => a.push(v));
    const offB = watch.subscribe((v) => b.push(v));
    expect((await watch.read()).get('t1')).toBe(1);
    await bump('t1');
    while (a.length === 0 || a.at(-1)?.get('t1') !== 2) await sleep(5);
    const polls = watch.polls;
    expect(polls).toBeGreaterThan(0);
    // Both heard the same polls: the same map objects, one per poll.
    expect(b).toEqual(a);
    expect(b.every((v, i) => v === a[i])).toBe(true);
    offA();
    offB();
    const stopped = watch.polls;
    await sleep(100); // five intervals: nobody follows, nothing polls
    expect(watch.polls).toBe(stopped);
  });

  it('next() gives the next poll, or null after its wait or on abort', async () => {
    const next = watch.next(1000);
    await bump('t1');
    expect((await next)?.get('t1')).toBe(2);
    expect(await watch.next(0)).toBeNull();
    const ac = new AbortController();
    const aborted = watch.next(5000, ac.signal);
    ac.abort();
    expect(await aborted).toBeNull();
    const before = watch.polls;
    await sleep(100); // the finished waits left no subscription behind
    expect(watch.polls).toBe(before);
  });

  it('reports a failing database once per outage, and goes on when it is back', async () => {
    const errors: unknown[] = [];
    const w = new ConfigVersionWatch(store.db, 20, (err) => errors.push(err));
    const seen: ConfigVersions[] = [];
    const off = w.subscribe((v) => seen.push(v));
    await sql`alter table tenants rename to tenants_away`.execute(store.db);
    await sleep(150); // about seven failed polls
    expect(errors).toHaveLength(1);
    const during = seen.length;
    await sql`alter table tenants_away rename to tenants`.execute(store.db);
    while (seen.length === during) await sleep(5);
    expect(seen.at(-1)?.get('t1')).toBe(1);
    expect(errors).toHaveLength(1);
    off();
    await w.stop();
  });
});
