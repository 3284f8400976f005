// The catalog admin API over real HTTP on SQLite and PostgreSQL: services, metrics, mapping rules,
// policies, plans, limits, pricing rules, features, service tokens, provider key; ETags, tenant scope,
// audit, the auth view kept live, and export → apply with no change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConfig } from '../../src/config/apply.js';
import { exportConfig } from '../../src/config/export.js';
import { loadGatewayConfig } from '../../src/gateway/loader.js';
import { sqlCases } from '../config/sql-cases.js';
import { type Bed, openBed } from './catalog-support.js';

for (const c of sqlCases) {
  describe.skipIf(!c.available)(`admin API catalog (${c.name})`, () => {
    let bed: Bed;
    beforeAll(async () => {
      bed = await openBed(c);
    });
    afterAll(() => bed.close());

    const audited = async (action: string, objectId: string) =>
      (
        await bed.store.db
          .selectFrom('audit_log')
          .select('action')
          .where('action', '=', action)
          .where('object_id', '=', objectId)
          .execute()
      ).length;
    const metricId = async (service: string, name: string) => {
      const r = await bed.call('GET', `/services/${service}/metrics?limit=500`);
      return (r.json.items as { id: string; system_name: string }[]).find((m) => m.system_name === name)!.id;
    };
    const planId = async (service: string, name: string) => {
      const r = await bed.call('GET', `/services/${service}/application_plans`);
      return (r.json.items as { id: string; system_name: string }[]).find((p) => p.system_name === name)!.id;
    };

    it('creates, reads, updates and deletes services with ETags, audit and tenant scope', async () => {
      const created = await bed.call('POST', '/services', {
        body: { system_name: 'shop', hosts: ['shop.example.com'], auth: { mode: 'app_id' } },
      });
      expect(created.status).toBe(201);
      const svc = created.json;
      expect(svc).toMatchObject({ system_name: 'shop', name: 'shop', state: 'active', default: false });
      expect(svc.auth).toEqual({ mode: 'app_id', location: 'query', param: 'app_id', key_param: 'app_key' });
      expect(created.headers.etag).toBeTruthy();
      expect(await audited('service.created', svc.id)).toBe(1);
      expect((await bed.view.service(svc.id))?.authMode).toBe('app_id');

      expect((await bed.call('POST', '/services', { body: { system_name: 'shop' } })).status).toBe(409);
      const bad = await bed.call('POST', '/services', { body: { system_name: 'x', colour: 'red' } });
      expect(bad.status).toBe(400);
      expect(bad.json.code).toBe('invalid_request');
      expect(
        (
          await bed.call('POST', '/services', {
            body: { system_name: 'y', auth: { mode: 'user_key', issuer: 'https://i' } },
          })
        ).status,
      ).toBe(400);
      expect(
        (await bed.call('POST', '/services', { token: 'alpha-readonly', body: { system_name: 'z' } })).status,
      ).toBe(403);

      const list = await bed.call('GET', '/services?state=active&system_name=shop');
      expect(list.json.items.map((s: { id: string }) => s.id)).toEqual([svc.id]);
      expect((await bed.call('GET', `/services/${svc.id}`, { token: 'beta-token' })).status).toBe(404);
      expect(
        (await bed.call('PATCH', `/services/${svc.id}`, { token: 'beta-token', body: { name: 'n' } })).status,
      ).toBe(404);

      const got = await bed.call('GET', `/services/${svc.id}`);
      const stale = await bed.call('PATCH', `/services/${svc.id}`, {
        body: { name: 'Shop' },
        headers: { 'if-match': '"nope"' },
      });
      expect(stale.status).toBe(412);
      const upd = await bed.call('PATCH', `/services/${svc.id}`, {
        body: { name: 'Shop', state: 'suspended', default: true },
        headers: { 'if-match': String(got.headers.etag) },
      });
      expect(upd.status).toBe(200);
      expect(upd.json).toMatchObject({ name: 'Shop', state: 'suspended', default: true });
      expect((await bed.view.service(svc.id))?.state).toBe('suspended');
      expect((await bed.view.tenantByProviderKey('alpha-pk'))?.defaultServiceId).toBe(svc.id);
      expect((await bed.call('PATCH', `/services/${svc.id}`, { body: { default: false } })).status).toBe(409);
      expect(await audited('service.updated', svc.id)).toBe(1);

      // A service with applications needs ?force=true; the default moves to the first remaining one.
      expect((await bed.call('PATCH', '/services/7000', { body: { default: true } })).status).toBe(200);
      expect((await bed.call('DELETE', `/services/${svc.id}`)).status).toBe(204);
      expect(await bed.view.service(svc.id)).toBeNull();
      expect((await bed.call('GET', `/services/${svc.id}`)).status).toBe(404);
    });

    it('refuses to delete a service with applications unless forced', async () => {
      const s = (await bed.call('POST', '/services', { body: { system_name: 'tmp' } })).json;
      await bed.call('POST', `/services/${s.id}/application_plans`, { body: { system_name: 'p' } });
      await bed.store.db
        .insertInto('applications')
        .values({
          id: 'app-tmp',
          tenant_id: (await bed.view.tenantByProviderKey('alpha-pk'))!.id,
          account_id: (
            await bed.store.db
              .selectFrom('accounts')
              .select('id')
              .where('name', '=', 'Dev')
              .executeTakeFirstOrThrow()
          ).id,
          service_id: s.id,
          plan_id: await planId(s.id, 'p'),
          app_id: 'tmp-app',
          name: 'T',
          state: 'active',
          user_key: null,
          redirect_url: null,
          position: 9,
        })
        .execute();
      const refused = await bed.call('DELETE', `/services/${s.id}`);
      expect(refused.status).toBe(409);
      expect(
        (await bed.call('DELETE', `/services/${s.id}/application_plans/${await planId(s.id, 'p')}`)).status,
      ).toBe(409);
      expect((await bed.call('DELETE', `/services/${s.id}?force=true`)).status).toBe(204);
      const left = await bed.store.db
        .selectFrom('applications')
        .select('id')
        .where('id', '=', 'app-tmp')
        .execute();
      expect(left).toEqual([]);
    });

    it('manages metrics and methods: parents, cycles, conflicts on delete, paging', async () => {
      const hits = await metricId('7000', 'hits');
      const m = await bed.call('POST', '/services/7000/metrics', {
        body: { system_name: 'search', parent_id: hits },
      });
      expect(m.status).toBe(201);
      expect(m.json.parent_id).toBe(hits);
      const sub = await bed.call('POST', '/services/7000/metrics', {
        body: { system_name: 'deep', parent_id: m.json.id },
      });
      expect(
        (await bed.call('PATCH', `/services/7000/metrics/${hits}`, { body: { parent_id: sub.json.id } }))
          .status,
      ).toBe(400);
      expect(
        (await bed.call('POST', '/services/7000/metrics', { body: { system_name: 'search' } })).status,
      ).toBe(409);
      expect(
        (
          await bed.call('POST', '/services/7001/metrics', {
            token: 'beta-token',
            body: { system_name: 'x', parent_id: hits },
          })
        ).status,
      ).toBe(400);
      expect((await bed.view.service('7000'))?.metrics.map((x) => x.systemName)).toContain('deep');

      // Paging: one per page, following cursors, visits every metric once.
      const seen: string[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const p = await bed.call('GET', `/services/7000/metrics?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(p.json.items.length).toBeLessThanOrEqual(1);
        seen.push(...p.json.items.map((x: { system_name: string }) => x.system_name));
        cursor = p.json.next_cursor;
      }
      expect(seen).toEqual(['hits', 'list', 'search', 'deep']);

      const del = await bed.call('DELETE', `/services/7000/metrics/${m.json.id}`);
      expect(del.status).toBe(409);
      expect((await bed.call('DELETE', `/services/7000/metrics/${m.json.id}?force=true`)).status).toBe(204);
      expect((await bed.call('GET', `/services/7000/metrics/${sub.json.id}`)).status).toBe(404);
      expect((await bed.call('DELETE', `/services/7000/metrics/${hits}`)).status).toBe(409);
      expect(await audited('metric.deleted', m.json.id)).toBe(1);
    });

    it('keeps mapping rules ordered and moves them by position', async () => {
      const list = await metricId('7000', 'list');
      const a = await bed.call('POST', '/services/7000/mapping_rules', {
        body: { method: 'POST', pattern: '/a', metric_id: list },
      });
      const b = await bed.call('POST', '/services/7000/mapping_rules', {
        body: { method: 'GET', pattern: '/b', metric_id: list, delta: 2, position: 0 },
      });
      expect(b.json.position).toBe(0);
      const order = async () =>
        (await bed.call('GET', '/services/7000/mapping_rules')).json.items.map(
          (r: { pattern: string }) => r.pattern,
        );
      expect(await order()).toEqual(['/b', '/items', '/a']);
      expect(
        (await bed.call('PATCH', `/services/7000/mapping_rules/${a.json.id}`, { body: { position: 0 } })).json
          .position,
      ).toBe(0);
      expect(await order()).toEqual(['/a', '/b', '/items']);
      expect(
        (
          await bed.call('POST', '/services/7000/mapping_rules', {
            body: { method: 'BREW', pattern: '/x', metric_id: list },
          })
        ).status,
      ).toBe(400);
      expect(
        (
          await bed.call('POST', '/services/7000/mapping_rules', {
            body: { method: 'GET', pattern: '/x', metric_id: 'nope' },
          })
        ).status,
      ).toBe(400);
      expect((await bed.call('DELETE', `/services/7000/mapping_rules/${b.json.id}`)).status).toBe(204);
      expect(await order()).toEqual(['/a', '/items']);
    });

    it('reads and replaces the policy chain', async () => {
      expect((await bed.call('GET', '/services/7000/policies')).json).toEqual([]);
      const chain = [
        { name: 'cors', configuration: { allow_origin: '*' } },
        { name: 'logging', enabled: false },
      ];
      const put = await bed.call('PUT', '/services/7000/policies', { body: chain });
      expect(put.status).toBe(200);
      expect(put.json).toEqual([
        { name: 'cors', enabled: true, configuration: { allow_origin: '*' } },
        { name: 'logging', enabled: false, configuration: {} },
      ]);
      expect(
        (await bed.call('PUT', '/services/7000/policies', { body: [{ name: 'teleport' }] })).status,
      ).toBe(400);
      expect(
        (await bed.call('PUT', '/services/7000/policies', { body: [], headers: { 'if-match': '"old"' } }))
          .status,
      ).toBe(412);
      expect((await bed.call('GET', '/services/7000/policies', { token: 'beta-token' })).status).toBe(404);
    });

    it('manages plans, limits (live in the auth view), pricing rules, features, default and copy', async () => {
      const hits = await metricId('7000', 'hits');
      const basic = await planId('7000', 'basic');
      const plan = await bed.call('POST', '/services/7000/application_plans', {
        body: { system_name: 'pro', monthly_fee: '49.00', approval_required: true, trial_days: 7 },
      });
      expect(plan.status).toBe(201);
      expect(plan.json).toMatchObject({
        state: 'published',
        approval_required: true,
        monthly_fee: '49.00',
        default: false,
      });
      expect(
        (await bed.call('POST', '/services/7000/application_plans', { body: { system_name: 'pro' } })).status,
      ).toBe(409);
      expect(
        (
          await bed.call('POST', '/services/7000/application_plans', {
            body: { system_name: 'q', monthly_fee: '1,5' },
          })
        ).status,
      ).toBe(400);
      const pro = plan.json.id as string;

      // Limits: a change is live in the auth view when the call returns.
      const lim = await bed.call('POST', `/services/7000/application_plans/${pro}/limits`, {
        body: { metric_id: hits, period: 'minute', value: 5 },
      });
      expect(lim.status).toBe(201);
      expect((await bed.view.plan('7000', pro))?.limits).toEqual([
        { metricId: hits, period: 'minute', max: 5 },
      ]);
      expect(
        (
          await bed.call('POST', `/services/7000/application_plans/${pro}/limits`, {
            body: { metric_id: hits, period: 'minute', value: 1 },
          })
        ).status,
      ).toBe(409);
      expect(
        (
          await bed.call('POST', `/services/7000/application_plans/${pro}/limits`, {
            body: { metric_id: hits, period: 'minute', value: -1 },
          })
        ).status,
      ).toBe(400);
      const basicLimits = await bed.call('GET', `/services/7000/application_plans/${basic}/limits`);
      const dayLimit = basicLimits.json.items[0];
      const etag = (await bed.call('GET', `/services/7000/application_plans/${basic}/limits/${dayLimit.id}`))
        .headers.etag;
      expect(
        (
          await bed.call('PATCH', `/services/7000/application_plans/${basic}/limits/${dayLimit.id}`, {
            body: { value: 7 },
            headers: { 'if-match': '"x"' },
          })
        ).status,
      ).toBe(412);
      const changed = await bed.call(
        'PATCH',
        `/services/7000/application_plans/${basic}/limits/${dayLimit.id}`,
        {
          body: { value: 7 },
          headers: { 'if-match': String(etag) },
        },
      );
      expect(changed.json.value).toBe(7);
      expect((await bed.view.plan('7000', basic))?.limits).toEqual([
        { metricId: hits, period: 'day', max: 7 },
      ]);
      expect(await audited('limit.updated', dayLimit.id)).toBe(1);
      expect(
        (await bed.call('GET', `/services/7000/application_plans/${basic}/limits`, { token: 'beta-token' }))
          .status,
      ).toBe(404);

      // Pricing rules: ranges of a metric must not overlap.
      const r1 = await bed.call('POST', `/services/7000/application_plans/${pro}/pricing_rules`, {
        body: { metric_id: hits, from: 1, to: 1000, price_per_unit: '0.01' },
      });
      expect(r1.status).toBe(201);
      expect(
        (
          await bed.call('POST', `/services/7000/application_plans/${pro}/pricing_rules`, {
            body: { metric_id: hits, from: 1000, price_per_unit: '0.02' },
          })
        ).status,
      ).toBe(409);
      const r2 = await bed.call('POST', `/services/7000/application_plans/${pro}/pricing_rules`, {
        body: { metric_id: hits, from: 1001, to: null, price_per_unit: '0.005' },
      });
      expect(r2.json).toMatchObject({ from: 1001, to: null, price_per_unit: '0.005' });
      expect(
        (
          await bed.call('PATCH', `/services/7000/application_plans/${pro}/pricing_rules/${r1.json.id}`, {
            body: { to: 2000 },
          })
        ).status,
      ).toBe(409);
      expect(
        (
          await bed.call('PATCH', `/services/7000/application_plans/${pro}/pricing_rules/${r1.json.id}`, {
            body: { to: 0 },
          })
        ).status,
      ).toBe(400);

      // Features: per service, enabled per plan.
      const f = await bed.call('POST', '/services/7000/features', {
        body: { system_name: 'sla', description: '99.9%' },
      });
      expect(f.status).toBe(201);
      const on = await bed.call('PUT', `/services/7000/application_plans/${pro}/features/${f.json.id}`);
      expect(on.json.features).toEqual([f.json.id]);
      expect(
        (
          await bed.call('PUT', `/services/7001/application_plans/${pro}/features/${f.json.id}`, {
            token: 'beta-token',
          })
        ).status,
      ).toBe(404);

      // Default and copy.
      const def = await bed.call('POST', `/services/7000/application_plans/${pro}/default`);
      expect(def.json.default).toBe(true);
      const copy = await bed.call('POST', `/services/7000/application_plans/${pro}/copy`, {
        body: { system_name: 'pro2' },
      });
      expect(copy.status).toBe(201);
      expect(copy.json).toMatchObject({
        system_name: 'pro2',
        default: false,
        monthly_fee: '49.00',
        features: [f.json.id],
      });
      const copiedLimits = await bed.call('GET', `/services/7000/application_plans/${copy.json.id}/limits`);
      expect(copiedLimits.json.items.map((l: { value: number }) => l.value)).toEqual([5]);
      const copiedRules = await bed.call(
        'GET',
        `/services/7000/application_plans/${copy.json.id}/pricing_rules`,
      );
      expect(copiedRules.json.items.map((r: { price_per_unit: string }) => r.price_per_unit)).toEqual([
        '0.01',
        '0.005',
      ]);
      expect(await audited('plan.copied', copy.json.id)).toBe(1);
      expect(
        (
          await bed.call('POST', `/services/7000/application_plans/${pro}/copy`, {
            body: { system_name: 'pro2' },
          })
        ).status,
      ).toBe(409);

      // Delete: a plan without applications goes; the one with applications is refused.
      expect((await bed.call('DELETE', `/services/7000/application_plans/${basic}`)).status).toBe(409);
      expect(
        (await bed.call('DELETE', `/services/7000/application_plans/${pro}/limits/${lim.json.id}`)).status,
      ).toBe(204);
      expect((await bed.view.plan('7000', pro))?.limits).toEqual([]);
      expect((await bed.call('DELETE', `/services/7000/features/${f.json.id}`)).status).toBe(204);
      expect((await bed.call('GET', `/services/7000/application_plans/${pro}`)).json.features).toEqual([]);
    });

    it('creates service tokens that work at once, lists them without values, deletes them', async () => {
      const made = await bed.call('POST', '/services/7000/service_tokens');
      expect(made.status).toBe(201);
      const value = made.json.value as string;
      expect(value.length).toBeGreaterThan(20);
      expect(await bed.view.providerKeyForServiceToken(value, '7000')).toBe('alpha-pk');
      expect(await bed.view.providerKeyForServiceToken(value, '7001')).toBeNull();
      const list = await bed.call('GET', '/services/7000/service_tokens');
      expect(list.json.items.map((t: { id: string }) => t.id)).toContain(made.json.id);
      expect(JSON.stringify(list.json)).not.toContain(value);
      const audit = await bed.store.db
        .selectFrom('audit_log')
        .select(['after'])
        .where('action', '=', 'service_token.created')
        .execute();
      expect(JSON.stringify(audit)).not.toContain(value);
      expect(
        (await bed.call('DELETE', `/services/7000/service_tokens/${made.json.id}`, { token: 'beta-token' }))
          .status,
      ).toBe(404);
      expect((await bed.call('DELETE', `/services/7000/service_tokens/${made.json.id}`)).status).toBe(204);
      expect(await bed.view.providerKeyForServiceToken(value, '7000')).toBeNull();
      await bed.call('POST', '/services/7000/service_tokens');
    });

    it('rotates the provider key: the new one works, the old one is refused at once', async () => {
      const r = await bed.call('POST', '/provider_key/rotate', { token: 'beta-token' });
      expect(r.status).toBe(200);
      const key = r.json.provider_key as string;
      expect(await bed.view.tenantByProviderKey('beta-pk')).toBeNull();
      expect((await bed.view.tenantByProviderKey(key))?.name).toBe('beta');
      const audit = await bed.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'provider_key.rotated')
        .execute();
      expect(audit).toHaveLength(1);
      expect(JSON.stringify(audit)).not.toContain(key);
    });

    it("takes the gateway settings with the config's validation, and the gateway compiles them", async () => {
      const settings = {
        upstream: 'http://127.0.0.1:9',
        hosts: ['edge.example.com'],
        path_prefix: '/v1',
        auth: {
          mode: 'oidc',
          issuer: 'https://id.example.com',
          jwks_url: 'https://id.example.com/jwks',
          audience: 'api',
        },
        authorization: { mode: 'batched', on_store_failure: 'allow', flush_ms: 50, store_timeout_ms: 20 },
        errors: {
          limits_exceeded: { status: 429, content_type: 'application/json', body: '{"error":"slow down"}' },
          auth_missing: { status: 401 },
        },
        rate_limit_headers: true,
      };
      const created = await bed.call('POST', '/services', { body: { system_name: 'edge', ...settings } });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      const id = created.json.id as string;
      expect(created.json).toMatchObject({
        ...settings,
        auth: { ...settings.auth, location: 'header', param: 'Authorization' },
        backend: null,
      });
      const plain = await bed.call('GET', '/services/7000');
      expect(plain.json).toMatchObject({
        path_prefix: null,
        errors: null,
        rate_limit_headers: false,
        backend: null,
      });

      // The config's checks, with the body path of each fault.
      const refused = async (body: unknown, path: string) => {
        const r = await bed.call('POST', '/services', { body: { system_name: 'bad', ...(body as object) } });
        expect(r.status, JSON.stringify(r.json)).toBe(400);
        // (schema faults come as `body/…`, the config's checks as `/body/…`)
        const paths = r.json.errors.map((e: { path: string }) => e.path.replace(/^\/?/, '/'));
        expect(paths).toContain(path);
      };
      await refused({ authorization: { mode: 'strict', flush_ms: 10 } }, '/body/authorization/flush_ms');
      await refused({ authorization: { mode: 'batched', lease_size: 10 } }, '/body/authorization/lease_size');
      await refused({ authorization: { store_timeout_ms: 20_000 } }, '/body/authorization/store_timeout_ms');
      await refused({ auth: { mode: 'user_key', audience: 'x' } }, '/body/auth/audience');
      await refused({ auth: { mode: 'oidc' } }, '/body/auth/issuer');
      await refused({ backend: { url: 'https://su1.3scale.net' } }, '/body/backend');
      await refused({ backend: { url: 'ftp://x', service_token: 't' } }, '/body/backend/url');
      await refused({ errors: { no_match: { status: 700 } } }, '/body/errors/no_match/status');
      await refused({ errors: { teapot: { status: 418 } } }, '/body/errors');
      await refused({ path_prefix: 'v1' }, '/body/path_prefix');
      // The gateway must be able to route it: no credentials in the upstream URL.
      expect(
        (
          await bed.call('POST', '/services', {
            body: { system_name: 'bad', upstream: 'http://u:p@127.0.0.1:9', hosts: ['bad.example.com'] },
          })
        ).status,
      ).toBe(400);
      // One host + path prefix routes to one service, whatever the tenant.
      const taken = await bed.call('POST', '/services', {
        token: 'beta-token',
        body: {
          system_name: 'clash',
          upstream: 'http://127.0.0.1:9',
          hosts: ['EDGE.example.com'],
          path_prefix: '/v1/',
        },
      });
      expect(taken.status).toBe(409);
      const other = await bed.call('POST', '/services', {
        token: 'beta-token',
        body: {
          system_name: 'clash',
          upstream: 'http://127.0.0.1:9',
          hosts: ['edge.example.com'],
          path_prefix: '/v2',
        },
      });
      expect(other.status).toBe(201);
      expect(
        (
          await bed.call('PATCH', `/services/${other.json.id}`, {
            token: 'beta-token',
            body: { path_prefix: '/v1' },
          })
        ).status,
      ).toBe(409);
      expect((await bed.call('DELETE', `/services/${other.json.id}`, { token: 'beta-token' })).status).toBe(
        204,
      );

      // Updates: authorization fields merge (null removes one; tuning of another mode goes with it),
      // the other settings are replaced whole or cleared with null.
      const upd = await bed.call('PATCH', `/services/${id}`, {
        body: {
          authorization: { mode: 'leased', lease_size: 10, store_timeout_ms: null },
          path_prefix: null,
          errors: null,
          backend: { url: 'https://su1.3scale.net', service_token: 'remote-secret-token' },
        },
      });
      expect(upd.status, JSON.stringify(upd.json)).toBe(200);
      expect(upd.json).toMatchObject({
        authorization: { mode: 'leased', on_store_failure: 'allow', lease_size: 10 },
        path_prefix: null,
        errors: null,
        backend: { url: 'https://su1.3scale.net', mode: 'authrep', service_token: 'remote-secret-token' },
      });
      expect(upd.json.authorization).toEqual({ mode: 'leased', on_store_failure: 'allow', lease_size: 10 });
      expect(
        (await bed.call('PATCH', `/services/${id}`, { body: { authorization: { flush_ms: 5 } } })).status,
      ).toBe(400);
      // A rename never fails on the settings.
      expect((await bed.call('PATCH', `/services/${id}`, { body: { name: 'Edge' } })).status).toBe(200);
      // The remote backend's credentials never reach the audit log.
      const audit = await bed.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('object_id', '=', id)
        .execute();
      expect(audit.length).toBeGreaterThanOrEqual(2);
      expect(JSON.stringify(audit)).not.toContain('remote-secret-token');

      const config = await loadGatewayConfig(bed.store.db);
      const svc = config.services.get(id)!;
      expect(svc.backend).toMatchObject({ url: 'https://su1.3scale.net', mode: 'authrep' });
      expect(svc.rateLimitHeaders).toBe(true);
      expect(svc.authConfig).toMatchObject({ issuer: 'https://id.example.com', audience: 'api' });
      expect(config.router.match('edge.example.com', '/anything')?.id).toBe(id);
      // Back to a path prefix: the router now answers only under it.
      await bed.call('PATCH', `/services/${id}`, {
        body: { path_prefix: '/v1', errors: { no_match: { status: 404, body: 'nothing here' } } },
      });
      const again = await loadGatewayConfig(bed.store.db);
      expect(again.router.match('edge.example.com', '/v1/x')?.id).toBe(id);
      expect(again.router.match('edge.example.com', '/v2/x')).toBeNull();
      expect(again.services.get(id)!.errors.no_match.body.toString()).toBe('nothing here');
    });

    it('exports what the API stored so that applying it back changes nothing', async () => {
      const doc = await exportConfig(bed.store.db);
      const alpha = doc.tenants!.find((t) => t.name === 'alpha')!;
      const api = alpha.services!.find((s) => s.system_name === 'api')!;
      expect(api.policies?.map((p) => p.name)).toEqual(['cors', 'logging']);
      expect(api.plans!.find((p) => p.system_name === 'pro')).toMatchObject({
        approval_required: true,
        default: true,
      });
      expect(await applyConfig(bed.store.db, doc)).toEqual({ changes: [], tenantIds: [] });
      expect(await exportConfig(bed.store.db)).toEqual(doc);
    });
  });
}
