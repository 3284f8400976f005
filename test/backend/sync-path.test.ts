/**
 * The synchronous hot path (AuthView.peek, CounterStore.executeSync, steps.drive): the same bytes as the
 * async path, and a change to the auth view is seen by the very next request, with or without the cache.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendHandler } from '../../src/backend/http.js';
import { drive, type Steps } from '../../src/backend/steps.js';
import type { TenantSnapshot } from '../../src/domain/model.js';
import { CachedAuthView } from '../../src/store/authview/cached.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import { MemoryCounterStore } from '../../src/store/counters/memory.js';
import type { AuthView, CounterStore } from '../../src/store/ports.js';
import { MemoryUsageLog } from '../../src/store/usagelog/memory.js';
import { acmeSnapshot, request, T0 } from './support/fixture.js';
import { TestErrorLog } from './support/memory-error-log.js';

const AUTHREP =
  '/transactions/authrep.xml?provider_key=pk1&service_id=svc-ak&app_id=app1&app_key=k1&referrer=www.example.com&usage%5Bget%5D=1';

/** A counter store with only the async methods: forces the promise path. */
function asyncOnly(inner: CounterStore): CounterStore {
  return {
    execute: (plan) => inner.execute(plan),
    read: (keys) => inner.read(keys),
    close: () => inner.close(),
  };
}

/** An auth view with only the async methods (no peek). */
function noPeek(inner: AuthView): AuthView {
  return {
    tenantByProviderKey: (pk) => inner.tenantByProviderKey(pk),
    providerKeyForServiceToken: (t, s) => inner.providerKeyForServiceToken(t, s),
    service: (s) => inner.service(s),
    plan: (s, p) => inner.plan(s, p),
    application: (s, a) => inner.application(s, a),
    appIdByUserKey: (s, k) => inner.appIdByUserKey(s, k),
    syncTenant: (x) => inner.syncTenant(x),
    deleteTenant: (t) => inner.deleteTenant(t),
    onChange: (l) => inner.onChange(l),
    close: () => inner.close(),
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function serve(view: AuthView, counters: CounterStore): Promise<string> {
  const handler = createBackendHandler(
    {
      authView: view,
      counters,
      usageLog: new MemoryUsageLog(),
      errorLog: new TestErrorLog(),
      clock: () => T0,
      version: 'test',
    },
    { recorders: { flushMs: 5 } },
  );
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await handler.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function suspended(s: TenantSnapshot): TenantSnapshot {
  return { ...s, apps: s.apps.map((a) => (a.id === 'app1' ? { ...a, state: 'suspended' } : a)) };
}

describe('synchronous path', () => {
  it('answers byte for byte like the async path', async () => {
    const bodies: string[] = [];
    for (const sync of [true, false]) {
      const view = new MemoryAuthView();
      await view.syncTenant(acmeSnapshot());
      const counters = await MemoryCounterStore.open({ clock: () => T0 });
      closers.push(() => counters.close());
      const base = await serve(sync ? view : noPeek(view), sync ? counters : asyncOnly(counters));
      for (const path of [
        AUTHREP,
        AUTHREP,
        `${AUTHREP}&usage%5Bnope%5D=1`,
        '/transactions/authorize.xml?provider_key=pk1&service_id=svc-ak&app_id=app1&app_key=k1&referrer=www.example.com',
      ]) {
        const r = await request(base, 'GET', path);
        bodies.push(`${r.status} ${r.headers['content-length']} ${r.body}`);
      }
    }
    expect(bodies.slice(0, 4)).toEqual(bodies.slice(4));
    expect(bodies[0]).toMatch(/^200 .*<current_value>1<\/current_value>/);
    expect(bodies[1]).toMatch(/^200 .*<current_value>2<\/current_value>/);
  });

  for (const cached of [false, true]) {
    it(`refuses a suspended app on the next request (${cached ? 'cached' : 'memory'} view)`, async () => {
      const inner = new MemoryAuthView();
      await inner.syncTenant(acmeSnapshot());
      const view = cached ? new CachedAuthView(inner, { maxEntries: 1000, ttlMs: 60_000 }) : inner;
      const counters = await MemoryCounterStore.open({ clock: () => T0 });
      closers.push(() => counters.close());
      const base = await serve(view, counters);
      expect((await request(base, 'GET', AUTHREP)).status).toBe(200);
      expect((await request(base, 'GET', AUTHREP)).status).toBe(200); // now answered from the cache
      await inner.syncTenant(suspended(acmeSnapshot()));
      const r = await request(base, 'GET', AUTHREP);
      expect(r.status).toBe(409);
      expect(r.body).toContain('<reason>application is not active</reason>');
    });
  }
});

describe('CachedAuthView.peek', () => {
  it('answers hits only, and nothing after a change', async () => {
    const inner = new MemoryAuthView();
    await inner.syncTenant(acmeSnapshot());
    const cache = new CachedAuthView(inner, { maxEntries: 1000, ttlMs: 60_000 });
    expect(cache.peek.application('svc-ak', 'app1')).toBeUndefined();
    expect(cache.peek.appIdByUserKey('svc-ak', 'nobody')).toBeUndefined();
    const app = await cache.application('svc-ak', 'app1');
    expect(await cache.appIdByUserKey('svc-ak', 'nobody')).toBeNull();
    expect(cache.peek.application('svc-ak', 'app1')).toBe(app);
    expect(cache.peek.appIdByUserKey('svc-ak', 'nobody')).toBeNull();
    await inner.syncTenant(suspended(acmeSnapshot()));
    expect(cache.peek.application('svc-ak', 'app1')).toBeUndefined();
    expect((await cache.application('svc-ak', 'app1'))?.state).toBe('suspended');
  });

  it('drops entries past the TTL', async () => {
    let now = 1000;
    const inner = new MemoryAuthView();
    await inner.syncTenant(acmeSnapshot());
    const cache = new CachedAuthView(inner, { maxEntries: 10, ttlMs: 50, clock: () => now });
    await cache.service('svc-ak');
    expect(cache.peek.service('svc-ak')).not.toBeUndefined();
    now += 50;
    expect(cache.peek.service('svc-ak')).toBeUndefined();
  });

  it('MemoryAuthView.peek gives the async answers', async () => {
    const view = new MemoryAuthView();
    await view.syncTenant(acmeSnapshot());
    expect(view.peek.tenantByProviderKey('pk1')).toEqual(await view.tenantByProviderKey('pk1'));
    expect(view.peek.tenantByProviderKey('nope')).toBeNull();
    expect(view.peek.application('svc-ak', 'app1')).toEqual(await view.application('svc-ak', 'app1'));
    expect(view.peek.plan('svc-ak', 'p-basic')).toEqual(await view.plan('svc-ak', 'p-basic'));
  });
});

describe('drive', () => {
  function* steps(a: unknown, b: unknown): Steps<number> {
    const x = (yield a) as number;
    const y = (yield b) as number;
    return x + y;
  }
  it('returns the value itself when every step is a value', () => {
    expect(drive(steps(1, 2))).toBe(3);
  });
  it('returns a promise from the first pending step', async () => {
    const r = drive(steps(1, Promise.resolve(2)));
    expect(r).toBeInstanceOf(Promise);
    expect(await r).toBe(3);
  });
  it('rejects when a step rejects', async () => {
    await expect(drive(steps(Promise.reject(new Error('down')), 2))).rejects.toThrow('down');
  });
});
