/**
 * Runs the AuthView contract against memory, Redis, and the per-process cache over each; then the
 * cache's own guarantees (shared in-flight misses, negative caching, TTL, LRU, invalidation).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppView, PlanView, ServiceView, TenantSnapshot, TenantView } from '../../src/domain/model.js';
import { CachedAuthView } from '../../src/store/authview/cached.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import { RedisAuthView } from '../../src/store/authview/redis.js';
import type { AuthView } from '../../src/store/ports.js';
import { app, authViewContract, fullSnapshot } from '../contract/authview.contract.js';
import { eventually, redisSpace, sleep } from '../contract/fixtures.js';
import { hasRedis } from '../support/services.js';

const CACHE = { maxEntries: 1000, ttlMs: 60_000 };

authViewContract('memory', async () => {
  const store = new MemoryAuthView();
  return { store, cleanup: () => store.close() };
});

authViewContract('cached(memory)', async () => {
  const inner = new MemoryAuthView();
  const store = new CachedAuthView(inner, CACHE);
  return { store, peer: inner, cleanup: () => store.close() };
});

async function redisViews(cached: boolean) {
  const space = redisSpace();
  const a = await RedisAuthView.open(space.connect());
  const b = await RedisAuthView.open(space.connect());
  const store = cached ? new CachedAuthView(a, CACHE) : a;
  return {
    store,
    peer: b,
    cleanup: async () => {
      await store.close();
      await b.close();
      await space.drop();
    },
  };
}

describe.skipIf(!hasRedis)('Redis', () => {
  authViewContract('redis (peer = a second RedisAuthView)', () => redisViews(false));
  authViewContract('cached(redis) (peer = a second RedisAuthView)', () => redisViews(true));
});

/** A real pass-through adapter that counts the lookups reaching the inner view. */
class CountingAuthView implements AuthView {
  calls = 0;
  constructor(private readonly inner: AuthView) {}
  tenantByProviderKey(pk: string): Promise<TenantView | null> {
    this.calls++;
    return this.inner.tenantByProviderKey(pk);
  }
  providerKeyForServiceToken(token: string, serviceId: string): Promise<string | null> {
    this.calls++;
    return this.inner.providerKeyForServiceToken(token, serviceId);
  }
  service(serviceId: string): Promise<ServiceView | null> {
    this.calls++;
    return this.inner.service(serviceId);
  }
  plan(serviceId: string, planId: string): Promise<PlanView | null> {
    this.calls++;
    return this.inner.plan(serviceId, planId);
  }
  application(serviceId: string, appId: string): Promise<AppView | null> {
    this.calls++;
    return this.inner.application(serviceId, appId);
  }
  appIdByUserKey(serviceId: string, userKey: string): Promise<string | null> {
    this.calls++;
    return this.inner.appIdByUserKey(serviceId, userKey);
  }
  syncTenant(s: TenantSnapshot): Promise<void> {
    return this.inner.syncTenant(s);
  }
  deleteTenant(tenantId: string): Promise<void> {
    return this.inner.deleteTenant(tenantId);
  }
  onChange(listener: (tenantId: string) => void): () => void {
    return this.inner.onChange(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function cacheSuite(name: string, open: () => Promise<{ inner: AuthView; cleanup(): Promise<void> }>) {
  describe(`CachedAuthView over ${name}`, () => {
    let inner: AuthView;
    let counting: CountingAuthView;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      const o = await open();
      inner = o.inner;
      cleanup = o.cleanup;
      counting = new CountingAuthView(inner);
      // Wait for the seed's own change message, so it cannot empty a cache built by the test.
      let seeded = false;
      const off = inner.onChange(() => {
        seeded = true;
      });
      await inner.syncTenant(fullSnapshot('ta'));
      await eventually(() => seeded, 2000);
      off();
    });
    afterEach(async () => {
      await cleanup();
    });

    it('shares one inner lookup between concurrent identical misses', async () => {
      const cache = new CachedAuthView(counting, CACHE);
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => cache.application('ta-s1', 'ta-a1')),
      );
      expect(counting.calls).toBe(1);
      expect(new Set(answers.map((a) => a?.id))).toEqual(new Set(['ta-a1']));
      await cache.application('ta-s1', 'ta-a1');
      expect(counting.calls).toBe(1);
      await Promise.all([cache.application('ta-s1', 'ta-a2'), cache.service('ta-s1')]);
      expect(counting.calls).toBe(3);
      // 20 concurrent misses + 2 misses later; one hit in between, plus synchronous peeks.
      expect(cache.stats).toEqual({ hits: 1, misses: 22 });
      expect(cache.peek.service('ta-s1')).toBeDefined();
      expect(cache.peek.service('ta-s9')).toBeUndefined();
      expect(cache.stats).toEqual({ hits: 2, misses: 22 });
    });

    it('caches negative answers too', async () => {
      const cache = new CachedAuthView(counting, CACHE);
      expect(await cache.appIdByUserKey('ta-s1', 'unknown')).toBeNull();
      expect(await cache.appIdByUserKey('ta-s1', 'unknown')).toBeNull();
      expect(await cache.tenantByProviderKey('unknown')).toBeNull();
      expect(await cache.tenantByProviderKey('unknown')).toBeNull();
      expect(counting.calls).toBe(2);
    });

    it('looks up again once an entry is older than the TTL', async () => {
      const cache = new CachedAuthView(counting, { maxEntries: 100, ttlMs: 50 });
      await cache.service('ta-s1');
      await sleep(120);
      await cache.service('ta-s1');
      expect(counting.calls).toBe(2);
    });

    it('evicts the least recently used entry beyond maxEntries', async () => {
      const cache = new CachedAuthView(counting, { maxEntries: 2, ttlMs: 60_000 });
      await cache.service('ta-s1');
      await cache.service('ta-s2');
      await cache.service('ta-s1'); // s1 is now the most recent
      await cache.service('ta-s3'); // evicts s2
      expect(counting.calls).toBe(3);
      await cache.service('ta-s1');
      expect(counting.calls).toBe(3);
      await cache.service('ta-s2');
      expect(counting.calls).toBe(4);
    });

    it('empties itself on a change reported by the inner view', async () => {
      const cache = new CachedAuthView(counting, CACHE);
      expect(await cache.appIdByUserKey('ta-s1', 'ta-uk1')).toBe('ta-a1');
      await inner.syncTenant({ ...fullSnapshot('ta'), apps: [app('ta', 1, 1, 'changed')] });
      expect(
        await eventually(async () => (await cache.appIdByUserKey('ta-s1', 'ta-uk1')) === null, 1000),
      ).toBe(true);
    });

    it('does not fill the cache with an answer that started before an invalidation', async () => {
      const cache = new CachedAuthView(counting, CACHE);
      const stale = cache.appIdByUserKey('ta-s1', 'ta-uk1');
      await cache.syncTenant({ ...fullSnapshot('ta'), apps: [] });
      await stale;
      expect(await cache.appIdByUserKey('ta-s1', 'ta-uk1')).toBeNull();
    });

    it('does not cache failures', async () => {
      const cache = new CachedAuthView(counting, CACHE);
      await inner.close();
      await cache.service('ta-s1').catch(() => undefined);
      await cache.service('ta-s1').catch(() => undefined);
      // Memory keeps answering after close; Redis fails: either way each call reached the inner view.
      expect(counting.calls).toBe(name === 'memory' ? 1 : 2);
    });
  });
}

cacheSuite('memory', async () => {
  const inner = new MemoryAuthView();
  return { inner, cleanup: () => inner.close() };
});

describe.skipIf(!hasRedis)('Redis', () => {
  cacheSuite('redis', async () => {
    const space = redisSpace();
    const inner = await RedisAuthView.open(space.connect());
    return {
      inner,
      cleanup: async () => {
        await inner.close();
        await space.drop();
      },
    };
  });
});
