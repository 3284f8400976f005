/**
 * `batched` and `leased` authorization over real counter stores (in-process, and Redis shared by several
 * gateway instances): decisions without I/O once warm, exact limits for leased across gateways, the
 * documented bound for batched, usage written back, leases returned.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Period } from '../../src/domain/model.js';
import type { AuthorizerSet } from '../../src/gateway/authz/index.js';
import type { Verdict } from '../../src/gateway/authz/types.js';
import { MemoryQuotaStore } from '../../src/store/counters/lease-memory.js';
import type { QuotaStore } from '../../src/store/counters/lease-port.js';
import { RedisQuotaStore } from '../../src/store/counters/lease-redis.js';
import { MemoryCounterStore } from '../../src/store/counters/memory.js';
import { RedisCounterStore } from '../../src/store/counters/redis.js';
import type { CounterStore } from '../../src/store/ports.js';
import { redisSpace } from '../contract/fixtures.js';
import { hasRedis, REDIS_URL } from '../support/services.js';
import {
  allowed,
  burst,
  callOf,
  depsOf,
  gateways,
  gwService,
  gwSnapshot,
  hitsKey,
  memoryView,
} from './authz-support.js';

interface Backing {
  /** The shared counters, as read by a test. */
  readonly counters: CounterStore;
  /** A quota store for gateway `i` (undefined: derived from in-process counters). */
  quota(i: number): Promise<QuotaStore | undefined>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts the quota store's calls by kind (a real store underneath). */
function counting(q: QuotaStore): QuotaStore & { calls: Record<string, number> } {
  const calls: Record<string, number> = { grant: 0, release: 0, apply: 0, read: 0 };
  return {
    calls,
    local: q.local,
    grant: (a) => {
      calls.grant!++;
      return q.grant(a);
    },
    release: (r) => {
      calls.release!++;
      return q.release(r);
    },
    apply: (b) => {
      calls.apply!++;
      return q.apply(b);
    },
    read: (k) => {
      calls.read!++;
      return q.read(k);
    },
    close: () => q.close(),
  };
}

function suite(name: string, openBacking: () => Promise<Backing>) {
  describe(name, () => {
    let backing: Backing;
    let sets: AuthorizerSet[] = [];
    afterEach(async () => {
      for (const s of sets) await s.close();
      sets = [];
      await backing?.close();
    });

    async function start(n: number, max: number, extra: { leaseIdleMs?: number; period?: Period } = {}) {
      backing = await openBacking();
      const view = await memoryView(gwSnapshot(max, extra.period));
      const out: AuthorizerSet[] = [];
      for (let i = 0; i < n; i++) {
        const quota = await backing.quota(i);
        out.push(
          ...gateways(1, () => ({
            deps: depsOf(view, backing.counters),
            ...(quota !== undefined ? { quota } : {}),
            tally: { leaseIdleMs: extra.leaseIdleMs ?? 60_000 },
          })),
        );
      }
      sets = out;
      return out;
    }

    it('batched: a warm decision needs no I/O; the limit holds on one gateway; usage reaches the store', async () => {
      const [gw] = await start(1, 10);
      const svc = gwService({ mode: 'batched', flush_ms: 50 });
      const first = await gw!.decide(callOf(svc, 'k1'));
      expect(first.ok).toBe(true);
      const verdicts: Verdict[] = [];
      for (let i = 0; i < 14; i++) {
        const v = gw!.decide(callOf(svc, 'k1'));
        expect(v).not.toBeInstanceOf(Promise);
        verdicts.push(v as Verdict);
      }
      expect(allowed(verdicts)).toBe(9);
      expect(verdicts.at(-1)).toMatchObject({ ok: false, code: 'limits_exceeded' });
      const ok = verdicts.find((v) => v.ok);
      expect(ok).toMatchObject({ ok: true, event: { appId: 'a1', usage: { 'm-list': 1, 'm-hits': 1 } } });
      await sleep(150);
      expect(await backing.counters.read([hitsKey('a1')])).toEqual([10]);
    });

    it('batched: concurrent cold decisions share one read of the counters', async () => {
      backing = await openBacking();
      const view = await memoryView(gwSnapshot(100));
      const q = counting((await backing.quota(0)) ?? new MemoryQuotaStore(backing.counters));
      const gw = gateways(1, () => ({ deps: depsOf(view, backing.counters), quota: q }))[0]!;
      sets = [gw];
      const svc = gwService({ mode: 'batched', flush_ms: 5000 });
      const vs = await burst([gw], 20, callOf(svc, 'k2'));
      expect(allowed(vs)).toBe(20);
      expect(q.calls.read).toBe(1);
    });

    it('batched: two gateways admit at least L and at most 2 L in a burst, then agree', async () => {
      const gws = await start(2, 30);
      const svc = gwService({ mode: 'batched', flush_ms: 50 });
      const vs = await burst(gws, 120, callOf(svc, 'k3'));
      const n = allowed(vs);
      expect(n).toBeGreaterThanOrEqual(30);
      expect(n).toBeLessThanOrEqual(60);
      await sleep(200); // a flush and a refresh on each
      for (const g of gws) expect((await g.decide(callOf(svc, 'k3'))).ok).toBe(false);
      expect(await backing.counters.read([hitsKey('a3')])).toEqual([n]);
    });

    it('leased: three gateways admit exactly L of 4 L concurrent calls; counters equal usage after close', async () => {
      const gws = await start(3, 60);
      const svc = gwService({ mode: 'leased' });
      const vs = await burst(gws, 240, callOf(svc, 'k4'));
      expect(allowed(vs)).toBe(60);
      expect(vs.filter((v) => !v.ok && v.code === 'limits_exceeded')).toHaveLength(180);
      for (const g of gws) await g.close();
      sets = [];
      expect(await backing.counters.read([hitsKey('a4')])).toEqual([60]);
    });

    it('leased: exactly L also when calls arrive in waves (renewals and prefetches interleave)', async () => {
      const gws = await start(3, 60);
      const svc = gwService({ mode: 'leased', lease_size: 4 });
      const all: Promise<Verdict>[] = [];
      for (let wave = 0; wave < 40; wave++) {
        for (let i = 0; i < 6; i++) all.push(Promise.resolve(gws[(wave + i) % 3]!.decide(callOf(svc, 'k9'))));
        await sleep(wave % 3 === 0 ? 2 : 0);
      }
      const vs = await Promise.all(all);
      expect(allowed(vs)).toBe(60);
      for (const g of gws) await g.close();
      sets = [];
      expect(await backing.counters.read([hitsKey('a9')])).toEqual([60]);
    });

    it('leased: decisions are local while the lease lasts; unspent units go back at close', async () => {
      const [gw] = await start(1, 1000);
      const svc = gwService({ mode: 'leased', lease_size: 50 });
      expect((await gw!.decide(callOf(svc, 'k5'))).ok).toBe(true);
      for (let i = 0; i < 20; i++) {
        const v = gw!.decide(callOf(svc, 'k5'));
        expect(v).not.toBeInstanceOf(Promise);
        expect((v as Verdict).ok).toBe(true);
      }
      // The store counts what was leased, not yet what was spent.
      expect((await backing.counters.read([hitsKey('a5')]))[0]).toBe(50);
      await gw!.close();
      sets = [];
      expect(await backing.counters.read([hitsKey('a5')])).toEqual([21]);
    });

    it('leased: idle units are returned', async () => {
      const [gw] = await start(1, 100, { leaseIdleMs: 100 });
      const svc = gwService({ mode: 'leased', lease_size: 10 });
      for (let i = 0; i < 3; i++) expect((await gw!.decide(callOf(svc, 'k6'))).ok).toBe(true);
      await sleep(900); // idle past 100 ms, then a background round returns the units
      expect(await backing.counters.read([hitsKey('a6')])).toEqual([3]);
      // Spending resumes with a new lease.
      expect((await gw!.decide(callOf(svc, 'k6'))).ok).toBe(true);
    });

    it('leased: a used-up limit is denied without asking the store on every call', async () => {
      backing = await openBacking();
      const view = await memoryView(gwSnapshot(5));
      const q = counting((await backing.quota(0)) ?? new MemoryQuotaStore(backing.counters));
      const gw = gateways(1, () => ({ deps: depsOf(view, backing.counters), quota: q }))[0]!;
      sets = [gw];
      const svc = gwService({ mode: 'leased', lease_size: 2 });
      const vs: Verdict[] = [];
      for (let i = 0; i < 50; i++) vs.push(await gw.decide(callOf(svc, 'k8')));
      expect(allowed(vs)).toBe(5);
      // 2 + 2 + 1 (short: the limit is used up), then nothing until the dry spell ends.
      expect(q.calls.grant).toBeLessThanOrEqual(4);
    });

    it('leased: rate-limit state and Retry-After come with the verdicts', async () => {
      const [gw] = await start(1, 3);
      const svc = gwService({ mode: 'leased', lease_size: 1 }, true);
      const vs: Verdict[] = [];
      for (let i = 0; i < 4; i++) vs.push(await gw!.decide(callOf(svc, 'k7')));
      expect(vs.map((v) => v.ok)).toEqual([true, true, true, false]);
      expect(vs[0]).toMatchObject({ rate: { limit: 3 } });
      expect(vs[3]).toMatchObject({ code: 'limits_exceeded', rate: { limit: 3, remaining: 0 } });
    });

    it('day windows: leased and batched count into the window with its expiry', async () => {
      const gws = await start(2, 20, { period: 'day' });
      const leased = await burst(gws, 50, callOf(gwService({ mode: 'leased' }), 'k1'));
      expect(allowed(leased)).toBe(20);
      const batched = await burst(gws, 10, callOf(gwService({ mode: 'batched', flush_ms: 50 }), 'k2'));
      expect(allowed(batched)).toBe(10);
      for (const g of gws) await g.close();
      sets = [];
      expect(await backing.counters.read([hitsKey('a1', 'day'), hitsKey('a2', 'day')])).toEqual([20, 10]);
    });

    it('bad credentials are refused in every mode', async () => {
      const [gw] = await start(1, 10);
      for (const mode of ['batched', 'leased', 'strict'] as const) {
        expect(await gw!.decide(callOf(gwService({ mode }), 'nope'))).toEqual({
          ok: false,
          code: 'auth_failed',
        });
      }
    });
  });
}

suite('in-process counters', async () => {
  const counters = await MemoryCounterStore.open();
  return { counters, quota: async () => undefined, close: () => counters.close() };
});

describe.skipIf(!hasRedis)('Redis', () => {
  suite('redis counters, one quota connection per gateway', async () => {
    const space = redisSpace();
    const counters = new RedisCounterStore(space.connect());
    const quotas: QuotaStore[] = [];
    return {
      counters,
      quota: async () => {
        const q = await RedisQuotaStore.connect(REDIS_URL, { keyPrefix: space.prefix });
        quotas.push(q);
        return q;
      },
      close: async () => {
        await counters.close();
        await space.drop();
      },
    };
  });
});
