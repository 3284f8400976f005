// The projection of SQL into the auth view, checked through MemoryAuthView's lookups.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectTenant, syncAuthView } from '../../src/admin/projection.js';
import { applyConfig } from '../../src/config/apply.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import { sha256 } from '../../src/store/digest.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { acme } from './helpers.js';
import { type SqlCase, sqlCases } from './sql-cases.js';

function projectionSuite(c: SqlCase): void {
  describe.skipIf(!c.available)(`projection into the auth view (${c.name})`, () => {
    let store: SqlStore;
    let dispose: () => Promise<void>;
    let view: MemoryAuthView;
    beforeEach(async () => {
      ({ store, dispose } = await c.open());
      view = new MemoryAuthView();
    });
    afterEach(async () => {
      await view.close();
      await dispose();
    });

    it('builds the tenant snapshot from SQL', async () => {
      const { tenantIds } = await applyConfig(store.db, acme());
      const snap = (await projectTenant(store.db, tenantIds[0]!))!;
      expect(snap.tenant).toEqual({
        id: tenantIds[0],
        name: 'acme',
        providerKey: 'acme-provider-key',
        defaultServiceId: '2555417735060',
      });
      const echo = snap.services.find((s) => s.id === '2555417735060')!;
      expect(echo).toMatchObject({
        tenantId: tenantIds[0],
        providerKey: 'acme-provider-key',
        state: 'active',
        authMode: 'user_key',
        referrerFiltersRequired: false,
        authorization: { mode: 'strict', onStoreFailure: 'deny' },
      });
      const hits = echo.metrics.find((m) => m.systemName === 'hits')!;
      expect(echo.metrics.map((m) => [m.systemName, m.parentId])).toEqual([
        ['hits', null],
        ['list_items', hits.id],
        ['get_item', hits.id],
        ['bytes_out', null],
      ]);
      expect(snap.serviceTokens).toContainEqual({
        tokenDigest: sha256('echo-service-token'),
        serviceId: echo.id,
      });
      const basic = snap.plans.find((p) => p.serviceId === echo.id)!;
      expect(basic.name).toBe('Basic');
      expect(basic.limits).toHaveLength(3);
      expect(basic.limits).toContainEqual({ metricId: hits.id, period: 'minute', max: 10 });
      // Only limited periods are counted: hits per minute and day, get_item per hour.
      const getItem = echo.metrics.find((m) => m.systemName === 'get_item')!;
      expect(echo.countedPeriods).toEqual({ [hits.id]: ['minute', 'day'], [getItem.id]: ['hour'] });
      const server = snap.apps.find((a) => a.id === 'a1b2c3')!;
      expect(server).toMatchObject({
        state: 'suspended',
        planName: 'Basic',
        userKey: null,
        appKeys: ['secret1'],
        referrerFilters: ['*.example.com'],
        redirectUrl: 'https://app.example.com/callback',
      });
      expect(await projectTenant(store.db, 'no-such-tenant')).toBeNull();
    });

    it('makes provider key, service token and user key lookups work after a sync', async () => {
      await applyConfig(store.db, acme());
      await syncAuthView(store.db, view);
      const tenant = await view.tenantByProviderKey('acme-provider-key');
      expect(tenant?.name).toBe('acme');
      expect(await view.tenantByProviderKey('wrong')).toBeNull();
      expect(await view.providerKeyForServiceToken('echo-service-token', '2555417735060')).toBe(
        'acme-provider-key',
      );
      expect(await view.providerKeyForServiceToken('notes-service-token', '2555417735060')).toBeNull();
      const appId = await view.appIdByUserKey('2555417735060', 'k-123');
      expect(appId).toMatch(/^[0-9a-f]{16}$/);
      const mobile = await view.application('2555417735060', appId!);
      expect(mobile).toMatchObject({ state: 'active', planName: 'Basic', userKey: 'k-123' });
      const plan = await view.plan('2555417735060', mobile!.planId);
      expect(plan?.limits.length).toBe(3);
      const notes = (await projectTenant(store.db, tenant!.id))!.services[1]!;
      expect(await view.service(notes.id)).toMatchObject({ authMode: 'app_id' });
      expect((await view.application(notes.id, 'a1b2c3'))?.state).toBe('suspended');
    });

    it('removes an app from the view when the file drops it and the tenant is re-synced', async () => {
      const { tenantIds } = await applyConfig(store.db, acme());
      await syncAuthView(store.db, view, tenantIds);
      const notes = (await projectTenant(store.db, tenantIds[0]!))!.services[1]!.id;
      expect(await view.application(notes, 'a1b2c3')).not.toBeNull();
      const doc = acme();
      doc.tenants[0].accounts[0].applications.pop();
      const r = await applyConfig(store.db, doc);
      expect(r.tenantIds).toEqual(tenantIds);
      await syncAuthView(store.db, view, r.tenantIds);
      expect(await view.application(notes, 'a1b2c3')).toBeNull();
      expect(await view.appIdByUserKey('2555417735060', 'k-123')).not.toBeNull();
    });

    it('drops a tenant from the view when it no longer exists in SQL', async () => {
      const { tenantIds } = await applyConfig(store.db, acme());
      await syncAuthView(store.db, view);
      await store.db.deleteFrom('tenants').where('id', '=', tenantIds[0]!).execute();
      await syncAuthView(store.db, view, tenantIds);
      expect(await view.tenantByProviderKey('acme-provider-key')).toBeNull();
    });
  });
}

for (const c of sqlCases) projectionSuite(c);
