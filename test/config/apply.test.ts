// Apply and export over real SQLite and PostgreSQL: creation, idempotence, round trips, deletions,
// refusal of bad files, dry runs. One describe-factory, run once per store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyConfig } from '../../src/config/apply.js';
import { exportConfig, toYaml } from '../../src/config/export.js';
import { ConfigValidationError, formatFault } from '../../src/config/faults.js';
import { sha256 } from '../../src/store/digest.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { acme, dump } from './helpers.js';
import { type SqlCase, sqlCases } from './sql-cases.js';

function applySuite(c: SqlCase): void {
  describe.skipIf(!c.available)(`config apply and export (${c.name})`, () => {
    let store: SqlStore;
    let dispose: () => Promise<void>;
    beforeEach(async () => {
      ({ store, dispose } = await c.open());
    });
    afterEach(async () => {
      await dispose();
    });

    it('creates everything in the file, secrets hashed', async () => {
      const r = await applyConfig(store.db, acme());
      const kinds = r.changes.map((x) => `${x.action} ${x.kind}`);
      expect(r.changes.every((x) => x.action === 'create')).toBe(true);
      expect(kinds.filter((k) => k === 'create service')).toHaveLength(2);
      expect(kinds.filter((k) => k === 'create metric')).toHaveLength(5);
      expect(kinds.filter((k) => k === 'create mapping_rule')).toHaveLength(3);
      expect(kinds.filter((k) => k === 'create usage_limit')).toHaveLength(4);
      expect(kinds.filter((k) => k === 'create application')).toHaveLength(2);
      expect(r.tenantIds).toHaveLength(1);

      const tenant = await store.db.selectFrom('tenants').selectAll().executeTakeFirstOrThrow();
      expect(tenant).toMatchObject({ name: 'acme', provider_key: 'acme-provider-key', id: r.tenantIds[0] });
      expect(Number(tenant.config_version)).toBe(1);
      const services = await store.db.selectFrom('services').selectAll().orderBy('position').execute();
      expect(services.map((s) => s.system_name)).toEqual(['echo', 'notes']);
      expect(services[0]!.id).toBe('2555417735060');
      expect(services[1]!.id).toMatch(/^[1-9]\d{12}$/);
      expect(services.map((s) => s.is_default)).toEqual([1, 0]);
      expect(JSON.parse(services[1]!.auth)).toEqual({
        mode: 'app_id',
        location: 'query',
        param: 'app_id',
        key_param: 'app_key',
      });

      const token = await store.db.selectFrom('admin_tokens').selectAll().executeTakeFirstOrThrow();
      expect(token.token_hash).toBe(sha256('acme-admin-token'));
      expect(JSON.parse(token.scopes)).toEqual(['management', 'analytics', 'billing']);
      const stokens = await store.db.selectFrom('service_tokens').select('token_hash').execute();
      expect(stokens.map((t) => t.token_hash).sort()).toEqual(
        [sha256('echo-service-token'), sha256('notes-service-token')].sort(),
      );
      const everything = JSON.stringify(await dump(store.db));
      for (const secret of ['acme-admin-token', 'echo-service-token', 'notes-service-token'])
        expect(everything).not.toContain(secret);

      const apps = await store.db.selectFrom('applications').selectAll().orderBy('position').execute();
      const mobile = apps.find((a) => a.name === 'Mobile')!;
      expect(mobile.app_id).toMatch(/^[0-9a-f]{16}$/);
      expect(mobile.user_key).toBe('k-123');
      expect(apps.find((a) => a.name === 'Server')).toMatchObject({
        app_id: 'a1b2c3',
        state: 'suspended',
        user_key: null,
      });
      const limits = await store.db.selectFrom('usage_limits').selectAll().execute();
      expect(limits.map((l) => Number(l.max_value)).sort((a, b) => a - b)).toEqual([10, 100, 500, 1000]);
    });

    it('applying the same file twice changes nothing', async () => {
      await applyConfig(store.db, acme());
      const before = await dump(store.db);
      const again = await applyConfig(store.db, acme());
      expect(again).toEqual({ changes: [], tenantIds: [] });
      expect(await dump(store.db)).toEqual(before);
    });

    it('exports what it stored, and applying the export changes nothing', async () => {
      await applyConfig(store.db, acme());
      const before = await dump(store.db);
      const exported = await exportConfig(store.db);
      const t = exported.tenants![0]!;
      expect(t.admin_tokens).toEqual([{ name: 'ci', hash: `sha256:${sha256('acme-admin-token')}` }]);
      expect(t.services![0]!.service_tokens).toEqual([{ hash: `sha256:${sha256('echo-service-token')}` }]);
      expect(t.services![1]!.id).toMatch(/^\d{13}$/);
      expect(t.services![0]!.plans![0]!.limits).toEqual({
        hits: { minute: 10, day: 1000 },
        get_item: { hour: 100 },
      });
      const apps = t.accounts![0]!.applications!;
      expect(apps.map((a) => a.name)).toEqual(['Mobile', 'Server']);
      expect(apps[0]!.app_id).toMatch(/^[0-9a-f]{16}$/);
      expect(apps[1]).toMatchObject({
        app_keys: ['secret1'],
        referrer_filters: ['*.example.com'],
        state: 'suspended',
      });

      const viaYaml = acme(toYaml(exported));
      expect(viaYaml).toEqual(exported);
      expect(await applyConfig(store.db, viaYaml)).toEqual({ changes: [], tenantIds: [] });
      expect(await dump(store.db)).toEqual(before);
      expect(await exportConfig(store.db)).toEqual(exported);
    });

    it('deletes what the file no longer has, and bumps config_version once', async () => {
      await applyConfig(store.db, acme());
      const doc = acme();
      const echo = doc.tenants[0].services[0];
      echo.metrics.pop(); // bytes_out
      echo.mapping_rules.pop();
      delete echo.plans[0].limits.get_item;
      echo.hosts.push('echo2.localhost');
      doc.tenants[0].accounts[0].applications.pop(); // Server
      doc.tenants[0].services[1].plans.push({ system_name: 'gold' });
      const r = await applyConfig(store.db, doc);
      expect(r.changes.map((x) => `${x.action} ${x.kind} ${x.name}`).sort()).toEqual(
        [
          'update service acme/services/echo',
          'delete mapping_rule acme/services/echo/mapping_rules[1]',
          'delete usage_limit acme/services/echo/plans/basic/limits/get_item/hour',
          'delete metric acme/services/echo/metrics/bytes_out',
          'delete application acme/accounts/Dev Co/applications/Server',
          'create plan acme/services/notes/plans/gold',
        ].sort(),
      );
      expect(r.changes.find((x) => x.kind === 'service')!.fields).toEqual(['hosts']);
      const tenant = await store.db.selectFrom('tenants').selectAll().executeTakeFirstOrThrow();
      expect(Number(tenant.config_version)).toBe(2);
      const apps = await store.db.selectFrom('applications').select('name').execute();
      expect(apps.map((a) => a.name)).toEqual(['Mobile']);
      expect(await store.db.selectFrom('app_keys').selectAll().execute()).toEqual([]);
      const metrics = await store.db.selectFrom('metrics').select('system_name').execute();
      expect(metrics.map((m) => m.system_name).sort()).toEqual(['get_item', 'hits', 'hits', 'list_items']);
      expect(await applyConfig(store.db, doc)).toEqual({ changes: [], tenantIds: [] });
    });

    it('moves an app to a new plan and drops the old plan without losing the app', async () => {
      await applyConfig(store.db, acme());
      const [mobileBefore] = await store.db
        .selectFrom('applications')
        .selectAll()
        .where('name', '=', 'Mobile')
        .execute();
      const doc = acme();
      doc.tenants[0].services[0].plans[0].system_name = 'premium';
      doc.tenants[0].accounts[0].applications[0].plan = 'premium';
      const r = await applyConfig(store.db, doc);
      const summary = r.changes.map((x) => `${x.action} ${x.kind}`);
      expect(summary).toContain('delete plan');
      expect(summary).toContain('create plan');
      expect(summary).toContain('update application');
      const [mobileAfter] = await store.db
        .selectFrom('applications')
        .selectAll()
        .where('name', '=', 'Mobile')
        .execute();
      expect(mobileAfter!.id).toBe(mobileBefore!.id);
      expect(mobileAfter!.app_id).toBe(mobileBefore!.app_id);
    });

    it('lets two apps swap user keys in one apply', async () => {
      const doc = acme();
      doc.tenants[0].accounts[0].applications[1] = {
        name: 'Tablet',
        service: 'echo',
        plan: 'basic',
        user_key: 'k-456',
      };
      await applyConfig(store.db, doc);
      const ids = Object.fromEntries(
        (await store.db.selectFrom('applications').select(['name', 'app_id']).execute()).map((a) => [
          a.name,
          a.app_id,
        ]),
      );
      const apps = doc.tenants[0].accounts[0].applications;
      apps[0] = { ...apps[0], app_id: ids.Mobile, user_key: 'k-456' };
      apps[1] = { ...apps[1], app_id: ids.Tablet, user_key: 'k-123' };
      const r = await applyConfig(store.db, doc);
      expect(r.changes.map((x) => `${x.action} ${x.kind} ${(x.fields ?? []).join(',')}`)).toEqual([
        'update application user_key',
        'update application user_key',
      ]);
      const after = await store.db
        .selectFrom('applications')
        .select(['name', 'user_key'])
        .orderBy('name')
        .execute();
      expect(after).toEqual([
        { name: 'Mobile', user_key: 'k-456' },
        { name: 'Tablet', user_key: 'k-123' },
      ]);
    });

    it('refuses a bad file whole and leaves the database as it was', async () => {
      await applyConfig(store.db, acme());
      const before = await dump(store.db);
      const doc = acme();
      doc.tenants[0].services[0].name = 'Renamed';
      doc.tenants[0].services[0].plans[0].limits.hits.dai = 5;
      const err = await applyConfig(store.db, doc).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigValidationError);
      expect((err as ConfigValidationError).faults.map(formatFault)).toEqual([
        'tenants[0].services[0].plans[0].limits.hits.dai: unknown period',
      ]);
      expect(await dump(store.db)).toEqual(before);
    });

    it('refuses secrets and ids held by a tenant the file does not name', async () => {
      await applyConfig(store.db, acme());
      const before = await dump(store.db);
      const other = {
        version: 1,
        tenants: [
          {
            name: 'beta',
            provider_key: 'acme-provider-key',
            admin_tokens: [{ name: 'x', value: 'acme-admin-token' }],
            services: [
              { id: '2555417735060', system_name: 'svc' },
              // Another prefix on the same host is a different route; the same host and prefix is not.
              { system_name: 'v2', hosts: ['ECHO.localhost'], path_prefix: '/v2' },
              { system_name: 'same', hosts: ['echo.localhost'] },
            ],
          },
        ],
      };
      const err = await applyConfig(store.db, other).catch((e: unknown) => e);
      expect((err as ConfigValidationError).faults.map(formatFault)).toEqual([
        'tenants[0].services[2].hosts[0]: host and path prefix already served by acme/services/echo',
        'tenants[0].provider_key: already used by tenant "acme"',
        'tenants[0].services[0].id: service id already used by tenant "acme"',
        'tenants[0].admin_tokens[0].value: the same token as one of tenant "acme"',
      ]);
      expect(await dump(store.db)).toEqual(before);
    });

    it('a dry run reports the changes and writes nothing', async () => {
      const empty = await dump(store.db);
      const dry = await applyConfig(store.db, acme(), { dryRun: true });
      expect(dry.changes.length).toBeGreaterThan(20);
      expect(await dump(store.db)).toEqual(empty);
      const real = await applyConfig(store.db, acme());
      expect(real.changes.map((x) => x.name)).toEqual(dry.changes.map((x) => x.name));
      const before = await dump(store.db);
      const doc = acme();
      doc.tenants[0].accounts[0].applications[0].state = 'suspended';
      const dry2 = await applyConfig(store.db, doc, { dryRun: true });
      expect(dry2.changes).toEqual([
        {
          action: 'update',
          kind: 'application',
          name: 'acme/accounts/Dev Co/applications/Mobile',
          fields: ['state'],
        },
      ]);
      expect(await dump(store.db)).toEqual(before);
    });

    it('leaves tenants the file does not name untouched, and exports only the tenants asked for', async () => {
      await applyConfig(store.db, acme());
      await applyConfig(store.db, { version: 1, tenants: [{ name: 'beta', provider_key: 'beta-pk' }] });
      const acmeRows = JSON.stringify(await exportConfig(store.db, { tenants: ['acme'] }));
      const r = await applyConfig(store.db, {
        version: 1,
        tenants: [{ name: 'beta', provider_key: 'beta-pk-2', services: [{ system_name: 'b' }] }],
      });
      expect(r.changes.map((x) => `${x.action} ${x.kind} ${x.name}`)).toEqual([
        'update tenant beta',
        'create service beta/services/b',
      ]);
      expect(JSON.stringify(await exportConfig(store.db, { tenants: ['acme'] }))).toBe(acmeRows);
      const all = await exportConfig(store.db);
      expect(all.tenants!.map((t) => t.name)).toEqual(['acme', 'beta']);
    });
  });
}

for (const c of sqlCases) applySuite(c);
