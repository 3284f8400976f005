/** The AuthView contract: every auth view adapter passes it (memory is the reference). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppView, PlanView, ServiceView, TenantSnapshot } from '../../src/domain/model.js';
import { sha256 } from '../../src/store/digest.js';
import type { AuthView } from '../../src/store/ports.js';
import { eventually } from './fixtures.js';

export interface AuthViewFixture {
  readonly store: AuthView;
  /** Another view over the same storage (for Redis: another process), when the adapter has one. */
  readonly peer?: AuthView;
  /** Closes whatever the fixture opened and removes its data. */
  cleanup(): Promise<void>;
}

export const service = (t: string, n: number): ServiceView => ({
  id: `${t}-s${n}`,
  tenantId: t,
  providerKey: `${t}-pk`,
  state: 'active',
  authMode: 'user_key',
  referrerFiltersRequired: false,
  authorization: { mode: 'strict', onStoreFailure: 'deny' },
  metrics: [{ id: `${t}-s${n}-hits`, systemName: 'hits', parentId: null }],
});

export const planOf = (t: string, svc: number, n: number): PlanView => ({
  id: `${t}-p${n}`,
  serviceId: `${t}-s${svc}`,
  name: `Plan ${n}`,
  limits: [{ metricId: `${t}-s${svc}-hits`, period: 'minute', max: 10 }],
});

export const app = (t: string, svc: number, n: number, userKey: string | null = `${t}-uk${n}`): AppView => ({
  id: `${t}-a${n}`,
  serviceId: `${t}-s${svc}`,
  state: 'active',
  planId: `${t}-p1`,
  planName: 'Plan 1',
  userKey,
  appKeys: ['k1', 'k2'],
  referrerFilters: ['*.example.com'],
  redirectUrl: null,
});

/** Tenant `t` with two services, a plan and an app on each, and a service token per service. */
export function fullSnapshot(t: string, providerKey = `${t}-pk`): TenantSnapshot {
  return {
    tenant: { id: t, name: `Tenant ${t}`, providerKey, defaultServiceId: `${t}-s1` },
    services: [service(t, 1), service(t, 2)],
    serviceTokens: [
      { serviceId: `${t}-s1`, tokenDigest: sha256(`${t}-tok1`) },
      { serviceId: `${t}-s2`, tokenDigest: sha256(`${t}-tok2`) },
    ],
    plans: [planOf(t, 1, 1), planOf(t, 2, 2)],
    apps: [app(t, 1, 1), app(t, 2, 2)],
  };
}

export function authViewContract(name: string, factory: () => Promise<AuthViewFixture>): void {
  describe(`AuthView contract: ${name}`, () => {
    let fx: AuthViewFixture;
    beforeEach(async () => {
      fx = await factory();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('answers every lookup after a sync, and null for what it does not hold', async () => {
      const s = fullSnapshot('ta');
      await fx.store.syncTenant(s);
      const v = fx.store;
      expect(await v.tenantByProviderKey('ta-pk')).toEqual(s.tenant);
      expect(await v.providerKeyForServiceToken('ta-tok1', 'ta-s1')).toBe('ta-pk');
      expect(await v.providerKeyForServiceToken('ta-tok2', 'ta-s2')).toBe('ta-pk');
      expect(await v.service('ta-s2')).toEqual(s.services[1]);
      expect(await v.plan('ta-s1', 'ta-p1')).toEqual(s.plans[0]);
      expect(await v.application('ta-s2', 'ta-a2')).toEqual(s.apps[1]);
      expect(await v.appIdByUserKey('ta-s1', 'ta-uk1')).toBe('ta-a1');

      expect(await v.tenantByProviderKey('nope')).toBeNull();
      expect(await v.providerKeyForServiceToken('ta-tok1', 'ta-s2')).toBeNull();
      expect(await v.providerKeyForServiceToken('wrong', 'ta-s1')).toBeNull();
      expect(await v.service('ta-s9')).toBeNull();
      expect(await v.plan('ta-s2', 'ta-p1')).toBeNull();
      expect(await v.application('ta-s1', 'ta-a2')).toBeNull();
      expect(await v.appIdByUserKey('ta-s2', 'ta-uk1')).toBeNull();
    });

    it('removes on re-sync every entry the new snapshot no longer holds', async () => {
      await fx.store.syncTenant(fullSnapshot('ta'));
      const changedApp = app('ta', 1, 1, 'ta-uk1-new');
      await fx.store.syncTenant({
        tenant: { id: 'ta', name: 'Renamed', providerKey: 'ta-pk', defaultServiceId: 'ta-s1' },
        services: [service('ta', 1)],
        serviceTokens: [{ serviceId: 'ta-s1', tokenDigest: sha256('ta-tok1-new') }],
        plans: [planOf('ta', 1, 1)],
        apps: [changedApp, app('ta', 1, 3, null)],
      });
      const v = fx.store;
      expect((await v.tenantByProviderKey('ta-pk'))?.name).toBe('Renamed');
      expect(await v.service('ta-s2')).toBeNull();
      expect(await v.plan('ta-s2', 'ta-p2')).toBeNull();
      expect(await v.application('ta-s2', 'ta-a2')).toBeNull();
      expect(await v.appIdByUserKey('ta-s2', 'ta-uk2')).toBeNull();
      expect(await v.appIdByUserKey('ta-s1', 'ta-uk1')).toBeNull();
      expect(await v.appIdByUserKey('ta-s1', 'ta-uk1-new')).toBe('ta-a1');
      expect(await v.providerKeyForServiceToken('ta-tok1', 'ta-s1')).toBeNull();
      expect(await v.providerKeyForServiceToken('ta-tok2', 'ta-s2')).toBeNull();
      expect(await v.providerKeyForServiceToken('ta-tok1-new', 'ta-s1')).toBe('ta-pk');
      expect(await v.application('ta-s1', 'ta-a1')).toEqual(changedApp);
      expect((await v.application('ta-s1', 'ta-a3'))?.userKey).toBeNull();
    });

    it('forgets the old provider key when it is rotated', async () => {
      await fx.store.syncTenant(fullSnapshot('ta'));
      await fx.store.syncTenant(fullSnapshot('ta', 'ta-pk-2'));
      expect(await fx.store.tenantByProviderKey('ta-pk')).toBeNull();
      expect((await fx.store.tenantByProviderKey('ta-pk-2'))?.id).toBe('ta');
      expect(await fx.store.providerKeyForServiceToken('ta-tok1', 'ta-s1')).toBe('ta-pk-2');
    });

    it('deletes a tenant and everything under it', async () => {
      await fx.store.syncTenant(fullSnapshot('ta'));
      await fx.store.deleteTenant('ta');
      const v = fx.store;
      expect(await v.tenantByProviderKey('ta-pk')).toBeNull();
      expect(await v.providerKeyForServiceToken('ta-tok1', 'ta-s1')).toBeNull();
      expect(await v.service('ta-s1')).toBeNull();
      expect(await v.plan('ta-s1', 'ta-p1')).toBeNull();
      expect(await v.application('ta-s1', 'ta-a1')).toBeNull();
      expect(await v.appIdByUserKey('ta-s1', 'ta-uk1')).toBeNull();
      await expect(v.deleteTenant('never-synced')).resolves.toBeUndefined();
    });

    it("keeps tenants apart: one tenant's sync and delete leave the other intact", async () => {
      await fx.store.syncTenant(fullSnapshot('ta'));
      await fx.store.syncTenant(fullSnapshot('tb'));
      expect(await fx.store.application('ta-s1', 'tb-a1')).toBeNull();
      expect(await fx.store.providerKeyForServiceToken('tb-tok1', 'ta-s1')).toBeNull();
      await fx.store.syncTenant({ ...fullSnapshot('ta'), apps: [], plans: [] });
      await fx.store.deleteTenant('ta');
      expect((await fx.store.tenantByProviderKey('tb-pk'))?.id).toBe('tb');
      expect((await fx.store.application('tb-s2', 'tb-a2'))?.id).toBe('tb-a2');
      expect(await fx.store.appIdByUserKey('tb-s1', 'tb-uk1')).toBe('tb-a1');
      expect(await fx.store.providerKeyForServiceToken('tb-tok2', 'tb-s2')).toBe('tb-pk');
    });

    it('reports every sync and delete on the change feed, until unsubscribed', async () => {
      const seen: string[] = [];
      const barrier: string[] = [];
      const off = fx.store.onChange((t) => seen.push(t));
      fx.store.onChange((t) => barrier.push(t));
      await fx.store.syncTenant(fullSnapshot('ta'));
      await fx.store.deleteTenant('ta');
      expect(await eventually(() => seen.length >= 2, 2000)).toBe(true);
      expect(seen).toEqual(['ta', 'ta']);
      off();
      await fx.store.syncTenant(fullSnapshot('tb'));
      expect(await eventually(() => barrier.includes('tb'), 2000)).toBe(true);
      expect(seen).toEqual(['ta', 'ta']);
    });

    it('shares its storage with a peer: writes and changes of either reach the other', async () => {
      const peer = fx.peer;
      if (!peer) return; // an in-process view has no other instance to share with
      const seen: string[] = [];
      fx.store.onChange((t) => seen.push(t));
      await fx.store.syncTenant(fullSnapshot('ta'));
      expect((await peer.application('ta-s1', 'ta-a1'))?.id).toBe('ta-a1');
      // Read through the store first, so a cache (if any) holds the old answers, then change via the peer.
      expect(await fx.store.appIdByUserKey('ta-s1', 'ta-uk1')).toBe('ta-a1');
      expect(await fx.store.application('ta-s2', 'ta-a2')).not.toBeNull();
      await peer.syncTenant({ ...fullSnapshot('ta'), apps: [app('ta', 1, 1, 'ta-uk1-new')] });
      expect(await eventually(() => seen.filter((t) => t === 'ta').length >= 2, 2000)).toBe(true);
      const visible = await eventually(
        async () =>
          (await fx.store.appIdByUserKey('ta-s1', 'ta-uk1')) === null &&
          (await fx.store.application('ta-s2', 'ta-a2')) === null,
        1000,
      );
      expect(visible).toBe(true);
      expect(await fx.store.appIdByUserKey('ta-s1', 'ta-uk1-new')).toBe('ta-a1');
    });
  });
}
