/** The quota face of the counter stores (lease grants, returns, idempotent batches): memory and Redis. */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryQuotaStore } from '../../src/store/counters/lease-memory.js';
import type { QuotaStore } from '../../src/store/counters/lease-port.js';
import { batchOwnerKey, tagOfCounterKey } from '../../src/store/counters/lease-port.js';
import { RedisQuotaStore } from '../../src/store/counters/lease-redis.js';
import { MemoryCounterStore } from '../../src/store/counters/memory.js';
import { RedisCounterStore } from '../../src/store/counters/redis.js';
import type { CounterStore } from '../../src/store/ports.js';
import { redisSpace } from '../contract/fixtures.js';
import { hasRedis, REDIS_URL } from '../support/services.js';

interface Opened {
  /** Independent quota stores on the same counters (Redis: separate connections, as separate gateways). */
  readonly quotas: QuotaStore[];
  readonly counters: CounterStore;
  close(): Promise<void>;
}

const KEY = 'c:{s1:a1}:m:day:20300101';
const KEY2 = 'c:{s1:a1}:m:eternity:0';
const FAR = Date.UTC(2031, 0, 1);

function suite(name: string, open: () => Promise<Opened>) {
  describe(name, () => {
    let o: Opened;
    afterEach(async () => {
      await o?.close();
    });

    it('grants never take a counter past its limit, however many ask at once', async () => {
      o = await open();
      const asks = Array.from({ length: 60 }, (_, i) =>
        o.quotas[i % o.quotas.length]!.grant([{ key: KEY, max: 100, want: 7, expireAt: FAR }]),
      );
      const answers = (await Promise.all(asks)).map((a) => a[0]!);
      const granted = answers.reduce((s, a) => s + a.granted, 0);
      expect(granted).toBe(100);
      for (const a of answers) expect(a.used).toBeLessThanOrEqual(100);
      expect(answers.filter((a) => a.granted > 0 && a.granted < 7)).toHaveLength(1); // 100 = 14 × 7 + 2
      expect(await o.counters.read([KEY])).toEqual([100]);
      // Once used up, nothing more: and a counter already past its limit (a report) grants nothing either.
      expect((await o.quotas[0]!.grant([{ key: KEY, max: 100, want: 5, expireAt: FAR }]))[0]).toEqual({
        granted: 0,
        used: 100,
      });
      expect((await o.quotas[0]!.grant([{ key: KEY, max: 50, want: 5, expireAt: FAR }]))[0]).toEqual({
        granted: 0,
        used: 100,
      });
    });

    it('grants per key in one call, nothing for a window already over, nothing for a 0 limit', async () => {
      o = await open();
      const r = await o.quotas[0]!.grant([
        { key: KEY, max: 10, want: 4, expireAt: FAR },
        { key: KEY2, max: 3, want: 4, expireAt: 0 },
        { key: 'c:{s1:a1}:m:minute:1', max: 10, want: 4, expireAt: Date.now() - 1 },
        { key: 'c:{s1:a1}:z:day:1', max: 0, want: 4, expireAt: FAR },
      ]);
      expect(r).toEqual([
        { granted: 4, used: 4 },
        { granted: 3, used: 3 },
        { granted: 0, used: 0 },
        { granted: 0, used: 0 },
      ]);
      expect(await o.counters.read([KEY, KEY2, 'c:{s1:a1}:m:minute:1'])).toEqual([4, 3, 0]);
    });

    it('returns lower a counter by at most its value and never create one', async () => {
      o = await open();
      await o.quotas[0]!.grant([{ key: KEY, max: 10, want: 6, expireAt: FAR }]);
      await o.quotas[0]!.release([
        { key: KEY, units: 2, expireAt: FAR },
        { key: KEY2, units: 5, expireAt: 0 },
      ]);
      expect(await o.counters.read([KEY, KEY2])).toEqual([4, 0]);
      await o.quotas[1 % o.quotas.length]!.release([{ key: KEY, units: 9, expireAt: FAR }]);
      expect(await o.counters.read([KEY])).toEqual([0]);
    });

    it('applies a batch once per (owner, seq), and answers values after it', async () => {
      o = await open();
      const owner = batchOwnerKey(tagOfCounterKey(KEY)!, 'gw1');
      const batch = {
        ownerKey: owner,
        seq: 1,
        increments: [
          { key: KEY, value: 5, expireAt: FAR },
          { key: KEY2, value: 2, expireAt: 0 },
        ],
        reads: ['c:{s1:a1}:other:eternity:0'],
      };
      expect(await o.quotas[0]!.apply(batch)).toEqual([5, 2, 0]);
      // Re-sent (a timeout that had in fact applied): counted once.
      expect(await o.quotas[0]!.apply(batch)).toEqual([5, 2, 0]);
      expect(await o.quotas[0]!.apply({ ...batch, seq: 2, reads: [] })).toEqual([10, 4]);
      // Another writer's sequence is its own.
      const other = { ...batch, ownerKey: batchOwnerKey(tagOfCounterKey(KEY)!, 'gw2') };
      expect(await o.quotas[1 % o.quotas.length]!.apply(other)).toEqual([15, 6, 0]);
      expect(await o.counters.read([KEY, KEY2])).toEqual([15, 6]);
    });
  });
}

suite('memory', async () => {
  const counters = await MemoryCounterStore.open();
  return {
    quotas: [new MemoryQuotaStore(counters), new MemoryQuotaStore(counters)],
    counters,
    close: () => counters.close(),
  };
});

describe.skipIf(!hasRedis)('Redis', () => {
  suite('redis (3 connections)', async () => {
    const space = redisSpace();
    const quotas = await Promise.all(
      [0, 1, 2].map(() => RedisQuotaStore.connect(REDIS_URL, { keyPrefix: space.prefix })),
    );
    const counters = new RedisCounterStore(space.connect());
    return {
      quotas,
      counters,
      close: async () => {
        for (const q of quotas) await q.close();
        await counters.close();
        await space.drop();
      },
    };
  });

  it('does not start without its server', async () => {
    const dead = RedisQuotaStore.connect('redis://127.0.0.1:1', { keyPrefix: 'x:', connectTimeoutMs: 500 });
    await expect(dead).rejects.toThrow();
  });
});
