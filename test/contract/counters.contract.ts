/** The CounterStore contract: every counter store adapter passes it (memory is the reference). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CounterCheck, CounterPlan, CounterWrite } from '../../src/domain/counters.js';
import type { CounterStore } from '../../src/store/ports.js';
import { sleep } from './fixtures.js';

export interface CounterFixture {
  readonly store: CounterStore;
  /** More stores over the same storage (other connections / processes), used to interleave plans. */
  readonly peers?: readonly CounterStore[];
  /** Opens a new store over the same storage (after `store.close()`): a restart. */
  readonly reopen?: () => Promise<CounterStore>;
  /** Closes whatever the fixture opened and removes its data. */
  cleanup(): Promise<void>;
}

const K = ['c:{s1:a1}:m1:minute:1', 'c:{s1:a1}:m2:minute:1', 'c:{s1:a1}:m1:day:1'];
const OTHER = ['c:{s1:a2}:m1:minute:1'];
const D1 = 'd:{s1:a1}:batch-1';

const inc = (key: number, value: number, expireAt = 0): CounterWrite => ({
  key,
  value,
  set: false,
  expireAt,
});
const put = (key: number, value: number, expireAt = 0): CounterWrite => ({ key, value, set: true, expireAt });
const check = (key: number, max: number, value: number, set = false): CounterCheck => ({
  key,
  max,
  value,
  set,
});
const plan = (
  writes: CounterWrite[],
  checks: CounterCheck[] = [],
  dedupe?: CounterPlan['dedupe'],
  keys: readonly string[] = K,
): CounterPlan => (dedupe ? { keys, checks, writes, dedupe } : { keys, checks, writes });

export function counterStoreContract(name: string, factory: () => Promise<CounterFixture>): void {
  describe(`CounterStore contract: ${name}`, () => {
    let fx: CounterFixture;
    beforeEach(async () => {
      fx = await factory();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('reads 0 for missing counters', async () => {
      expect(await fx.store.read(K)).toEqual([0, 0, 0]);
      expect(await fx.store.read([])).toEqual([]);
    });

    it('increments and returns the values read before the writes', async () => {
      const r1 = await fx.store.execute(plan([inc(0, 3), inc(2, 3)]));
      expect(r1).toEqual({ status: 'applied', values: [0, 0, 0] });
      const r2 = await fx.store.execute(plan([inc(0, 2), inc(1, 1)]));
      expect(r2).toEqual({ status: 'applied', values: [3, 0, 3] });
      expect(await fx.store.read(K)).toEqual([5, 1, 3]);
    });

    it('sets values, and set 0 deletes the counter', async () => {
      await fx.store.execute(plan([inc(0, 4), inc(1, 4)]));
      await fx.store.execute(plan([put(0, 9), put(1, 0)]));
      expect(await fx.store.read(K)).toEqual([9, 0, 0]);
      await fx.store.execute(plan([inc(1, 1)]));
      expect(await fx.store.read(K)).toEqual([9, 1, 0]);
    });

    it('denies a plan whose check fails and writes nothing', async () => {
      await fx.store.execute(plan([inc(0, 5)]));
      const denied = await fx.store.execute(plan([inc(0, 2), inc(1, 2)], [check(0, 6, 2)]));
      expect(denied).toEqual({ status: 'denied', values: [5, 0, 0], failedCheck: 0 });
      expect(await fx.store.read(K)).toEqual([5, 0, 0]);
      const atLimit = await fx.store.execute(plan([inc(0, 1)], [check(0, 6, 1)]));
      expect(atLimit.status).toBe('applied');
      expect(await fx.store.read(K)).toEqual([6, 0, 0]);
    });

    it('reports the first failing check of several, on the values read', async () => {
      await fx.store.execute(plan([inc(0, 1), inc(1, 10)]));
      const r = await fx.store.execute(
        plan([inc(0, 1), inc(1, 1), inc(2, 1)], [check(0, 100, 1), check(1, 10, 1), check(2, 0, 1)]),
      );
      expect(r).toEqual({ status: 'denied', values: [1, 10, 0], failedCheck: 1 });
      expect(await fx.store.read(K)).toEqual([1, 10, 0]);
    });

    it('compares a set check against its own value, not the stored one', async () => {
      await fx.store.execute(plan([inc(0, 100)]));
      expect((await fx.store.execute(plan([put(0, 10)], [check(0, 9, 10, true)]))).status).toBe('denied');
      expect((await fx.store.execute(plan([put(0, 10)], [check(0, 10, 10, true)]))).status).toBe('applied');
      expect(await fx.store.read([K[0]!])).toEqual([10]);
    });

    it('applies a deduplicated plan once and answers duplicate after', async () => {
      const far = Date.now() + 3_600_000;
      expect((await fx.store.execute(plan([inc(0, 2)], [], { key: D1, expireAt: far }))).status).toBe(
        'applied',
      );
      const again = await fx.store.execute(plan([inc(0, 2)], [], { key: D1, expireAt: far }));
      expect(again).toEqual({ status: 'duplicate', values: [2, 0, 0] });
      const other = await fx.store.execute(plan([inc(0, 2)], [], { key: `${D1}b`, expireAt: far }));
      expect(other.status).toBe('applied');
      expect(await fx.store.read(K)).toEqual([4, 0, 0]);
    });

    it('does not mark a denied plan as seen, so its retry can apply', async () => {
      const far = Date.now() + 3_600_000;
      const denied = await fx.store.execute(plan([inc(0, 2)], [check(0, 1, 2)], { key: D1, expireAt: far }));
      expect(denied.status).toBe('denied');
      const retry = await fx.store.execute(plan([inc(0, 1)], [check(0, 1, 1)], { key: D1, expireAt: far }));
      expect(retry.status).toBe('applied');
      expect(await fx.store.read(K)).toEqual([1, 0, 0]);
    });

    it('forgets counters and dedupe marks after their expiry', async () => {
      const soon = Date.now() + 300;
      await fx.store.execute(plan([inc(0, 7, soon), inc(1, 1)], [], { key: D1, expireAt: soon }));
      expect(await fx.store.read(K)).toEqual([7, 1, 0]);
      await sleep(600);
      expect(await fx.store.read(K)).toEqual([0, 1, 0]);
      const later = await fx.store.execute(
        plan([inc(0, 1, Date.now() + 60_000)], [], { key: D1, expireAt: 0 }),
      );
      expect(later).toEqual({ status: 'applied', values: [0, 1, 0] });
      expect(await fx.store.read(K)).toEqual([1, 1, 0]);
    });

    it('skips writes whose expiry is already past', async () => {
      const r = await fx.store.execute(plan([inc(0, 5, Date.now() - 1000), inc(1, 5)]));
      expect(r.status).toBe('applied');
      expect(await fx.store.read(K)).toEqual([0, 5, 0]);
    });

    it("keeps one application's counters apart from another's", async () => {
      await fx.store.execute(plan([inc(0, 3)], [], undefined, OTHER));
      await fx.store.execute(plan([inc(0, 1)]));
      expect(await fx.store.read([...K, ...OTHER])).toEqual([1, 0, 0, 3]);
    });

    it('admits exactly the limit under 200 concurrent plans', async () => {
      const stores = [fx.store, ...(fx.peers ?? [])];
      const p = plan([inc(0, 1)], [check(0, 50, 1)]);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => stores[i % stores.length]!.execute(p)),
      );
      expect(results.filter((r) => r.status === 'applied')).toHaveLength(50);
      expect(results.filter((r) => r.status === 'denied')).toHaveLength(150);
      // Every admitted plan saw a distinct count below the limit: no two read the same value.
      const seen = results.filter((r) => r.status === 'applied').map((r) => r.values[0]);
      expect(new Set(seen).size).toBe(50);
      expect(await fx.store.read([K[0]!])).toEqual([50]);
    });

    it('keeps counters and dedupe marks across a restart', async () => {
      if (!fx.reopen) return; // a store without persistence starts empty by design
      const far = Date.now() + 3_600_000;
      await fx.store.execute(plan([inc(0, 3, far), put(1, 42)], [], { key: D1, expireAt: far }));
      await fx.store.execute(plan([inc(0, 2, far)]));
      await fx.store.close();
      const reopened = await fx.reopen();
      expect(await reopened.read(K)).toEqual([5, 42, 0]);
      expect((await reopened.execute(plan([inc(0, 2)], [], { key: D1, expireAt: far }))).status).toBe(
        'duplicate',
      );
    });
  });
}
