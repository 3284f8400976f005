/**
 * The store guard (timeouts + circuit breaker) and `on_store_failure`, against a counter store whose
 * server is not there (a real connection failure, not a stub).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreGuard, StoreUnavailableError } from '../../src/gateway/authz/guard.js';
import type { AuthorizerSet } from '../../src/gateway/authz/index.js';
import type { Verdict } from '../../src/gateway/authz/types.js';
import { RedisQuotaStore } from '../../src/store/counters/lease-redis.js';
import { MemoryCounterStore } from '../../src/store/counters/memory.js';
import { RedisCounterStore } from '../../src/store/counters/redis.js';
import { openRedis } from '../../src/store/redis.js';
import { hasRedis, REDIS_URL } from '../support/services.js';
import { callOf, depsOf, gateways, gwService, gwSnapshot, memoryView } from './authz-support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = () => new Promise<never>(() => undefined);

describe('StoreGuard', () => {
  it('opens after consecutive failures, refuses at once, probes once after the cool-down, closes on success', async () => {
    const states: string[] = [];
    const seen: boolean[] = [];
    const g = new StoreGuard({
      failureThreshold: 3,
      cooldownMs: 100,
      onState: (s) => states.push(s),
      observe: (_s, ok) => seen.push(ok),
    });
    for (let i = 0; i < 2; i++)
      await expect(g.run(() => Promise.reject(new Error('x')), 50)).rejects.toThrow('x');
    expect(g.state).toBe('closed');
    await g.run(() => Promise.resolve(1), 50); // a success resets the count
    for (let i = 0; i < 2; i++)
      await expect(g.run(() => Promise.reject(new Error('x')), 50)).rejects.toThrow();
    expect(g.state).toBe('closed');
    // A timeout is a failure too.
    await expect(g.run(never, 20)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(g.state).toBe('open');
    let started = 0;
    const refused = await g
      .run(() => {
        started++;
        return Promise.resolve(1);
      }, 50)
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ fast: true });
    expect(started).toBe(0);
    await sleep(120);
    expect(g.state).toBe('half_open');
    // One probe goes through; others meanwhile are refused.
    const probe = g.run(() => sleep(30).then(() => 'up'), 200);
    await expect(g.run(() => Promise.resolve('other'), 50)).rejects.toMatchObject({ fast: true });
    expect(await probe).toBe('up');
    expect(g.state).toBe('closed');
    expect(states).toEqual(['open', 'closed']);
    expect(seen.filter((ok) => !ok)).toHaveLength(5);
  });

  it('a failed probe opens it for another cool-down; a late answer after a timeout changes nothing', async () => {
    const g = new StoreGuard({ failureThreshold: 1, cooldownMs: 60 });
    let late: (v: number) => void = () => undefined;
    const slow = new Promise<number>((r) => {
      late = r;
    });
    await expect(g.run(() => slow, 10)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(g.state).toBe('open');
    await sleep(70);
    await expect(g.run(() => Promise.reject(new Error('still down')), 50)).rejects.toThrow('still down');
    expect(g.blocked()).toBe(true);
    late(1);
    await sleep(0);
    expect(g.state).toBe('open');
  });
});

describe('on_store_failure with an unreachable counter store', () => {
  let sets: AuthorizerSet[] = [];
  afterEach(async () => {
    for (const s of sets) await s.close();
    sets = [];
  });

  async function deadGateway() {
    const view = await memoryView(gwSnapshot(100));
    // Nothing listens on port 1: every counter call fails (connection refused).
    const counters = new RedisCounterStore(openRedis('redis://127.0.0.1:1', { keyPrefix: 'dead:' }));
    const errors: unknown[] = [];
    const states: string[] = [];
    const [gw] = gateways(1, () => ({
      deps: depsOf(view, counters),
      onStoreError: (err) => errors.push(err),
      onBreaker: (s) => states.push(s),
      breaker: { failureThreshold: 3, cooldownMs: 60_000 },
    }));
    sets = [gw!];
    return { gw: gw!, errors, states, counters };
  }

  it('strict, deny: 503 answers; after the breaker opens they come without touching the store', async () => {
    const { gw, errors, states } = await deadGateway();
    const svc = gwService({ mode: 'strict', on_store_failure: 'deny', store_timeout_ms: 500 });
    const vs: Verdict[] = [];
    for (let i = 0; i < 50; i++) vs.push(await gw.decide(callOf(svc, 'k1')));
    expect(vs.every((v) => !v.ok && v.code === 'service_unavailable')).toBe(true);
    expect(states).toEqual(['open']);
    expect(gw.breakerState()).toBe('open');
    expect(errors).toHaveLength(3); // the failures that opened it; the 47 others never reached the store
  });

  it('strict, allow: forwarded with the usage event, unless the cache remembers the key as unknown', async () => {
    const { gw } = await deadGateway();
    const svc = gwService({ mode: 'strict', on_store_failure: 'allow', store_timeout_ms: 500 });
    for (let i = 0; i < 10; i++) {
      const v = await gw.decide(callOf(svc, 'k1'));
      expect(v).toMatchObject({ ok: true, event: { appId: 'a1', usage: { 'm-list': 1, 'm-hits': 1 } } });
    }
    expect(await gw.decide(callOf(svc, 'unknown-key'))).toEqual({ ok: false, code: 'auth_failed' });
  });

  it.skipIf(!hasRedis)(
    'batched and leased: deny answers 503 when a decision needs the store; allow admits and counts later',
    async () => {
      // A real quota connection, closed: every call on it fails.
      const quota = await RedisQuotaStore.connect(REDIS_URL, { keyPrefix: 'closed:' });
      await quota.close();
      const counters = await MemoryCounterStore.open();
      const view = await memoryView(gwSnapshot(100));
      const [gw] = gateways(1, () => ({
        deps: depsOf(view, counters),
        quota,
        breaker: { failureThreshold: 100 },
      }));
      sets = [gw!];
      for (const mode of ['batched', 'leased'] as const) {
        const deny = await gw!.decide(callOf(gwService({ mode, on_store_failure: 'deny' }), 'k2'));
        expect(deny).toEqual({ ok: false, code: 'service_unavailable' });
        const allow = await gw!.decide(callOf(gwService({ mode, on_store_failure: 'allow' }), 'k3'));
        expect(allow).toMatchObject({ ok: true, event: { appId: 'a3' } });
      }
      await counters.close();
    },
  );
});
