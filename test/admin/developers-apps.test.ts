// Applications over real HTTP on SQLite and PostgreSQL: create with generated credentials, get/update/
// delete, state and plan actions, app keys, user_key regeneration, referrer filters — each live in the
// auth view on return, audited without secrets, tenant- and service-scoped; and export → apply = no-op.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConfig } from '../../src/config/apply.js';
import { exportConfig } from '../../src/config/export.js';
import { sqlCases } from '../config/sql-cases.js';
import { auditRows, openWorld, type World } from './developers-fixture.js';

const ALPHA = 'alpha-token';
const BETA = 'beta-token';

for (const c of sqlCases) {
  describe.skipIf(!c.available)(`admin API developers: applications (${c.name})`, () => {
    let w: World;
    let accountId: string;
    const plan: Record<string, string> = {};
    beforeAll(async () => {
      w = await openWorld(c);
      const acc = await w.call('POST', '/accounts', {
        token: ALPHA,
        body: { name: 'devs', email: 'd@devs.test' },
      });
      accountId = acc.body.id;
      for (const p of await w.store.db
        .selectFrom('plans')
        .select(['id', 'service_id', 'system_name'])
        .execute())
        plan[`${p.service_id}/${p.system_name}`] = p.id;
    });
    afterAll(() => w.close());

    const create = (body: Record<string, unknown>, token = ALPHA) =>
      w.call('POST', `/accounts/${accountId}/applications`, { token, body });

    it('creates a user_key app (32 hex key, active, live) and refuses bad references', async () => {
      const r = await create({
        name: 'web',
        service_id: '7001',
        plan_id: plan['7001/basic'],
        description: 'Web',
      });
      expect(r.status).toBe(201);
      expect(r.body.user_key).toMatch(/^[0-9a-f]{32}$/);
      expect(r.body.app_id).toMatch(/^[0-9a-f]{16}$/);
      expect(r.body.state).toBe('active');
      expect(await w.view.appIdByUserKey('7001', r.body.user_key)).toBe(r.body.app_id);
      expect((await create({ name: 'x', service_id: '7001', plan_id: plan['7002/basic'] })).status).toBe(400);
      expect((await create({ name: 'x', service_id: '8001', plan_id: plan['7001/basic'] })).status).toBe(400);
      expect((await create({ name: 'x', service_id: '7001' })).status).toBe(400);
      const dup = await create({
        name: 'x',
        service_id: '7001',
        plan_id: plan['7001/basic'],
        user_key: r.body.user_key,
      });
      expect(dup.status).toBe(409);
      expect((await create({ name: 'x', service_id: '8001', plan_id: 'p' }, BETA)).status).toBe(404);
      const audit = await auditRows(w, 'application.created');
      expect(audit).toHaveLength(1);
      expect(JSON.stringify(audit)).not.toContain(r.body.user_key);
    });

    it('creates an app_id app with one generated app_key; keys add/delete live, at most 5', async () => {
      const r = await create({
        name: 'ios',
        service_id: '7002',
        plan_id: plan['7002/basic'],
        generate_app_key: true,
      });
      expect(r.status).toBe(201);
      expect(r.body.user_key).toBeNull();
      expect(r.body.app_keys).toHaveLength(1);
      const id = r.body.id as string;
      const added = await w.call('POST', `/applications/${id}/keys`, { token: ALPHA, body: {} });
      expect(added.status).toBe(201);
      expect(added.body.value).toMatch(/^[0-9a-f]{32}$/);
      expect((await w.view.application('7002', r.body.app_id))?.appKeys).toContain(added.body.value);
      const mine = await w.call('POST', `/applications/${id}/keys`, {
        token: ALPHA,
        body: { value: 'my-own-key' },
      });
      expect(mine.body.value).toBe('my-own-key');
      expect(
        (await w.call('POST', `/applications/${id}/keys`, { token: ALPHA, body: { value: 'my-own-key' } }))
          .status,
      ).toBe(409);
      for (const v of ['k4', 'k5'])
        await w.call('POST', `/applications/${id}/keys`, { token: ALPHA, body: { value: v } });
      expect((await w.call('POST', `/applications/${id}/keys`, { token: ALPHA, body: {} })).status).toBe(409);
      const keys = await w.call('GET', `/applications/${id}/keys`, { token: ALPHA });
      expect(keys.body.items.map((k: { value: string }) => k.value)).toEqual([
        r.body.app_keys[0],
        added.body.value,
        'my-own-key',
        'k4',
        'k5',
      ]);
      expect((await w.call('DELETE', `/applications/${id}/keys/my-own-key`, { token: BETA })).status).toBe(
        404,
      );
      expect((await w.call('DELETE', `/applications/${id}/keys/my-own-key`, { token: ALPHA })).status).toBe(
        204,
      );
      expect((await w.call('DELETE', `/applications/${id}/keys/my-own-key`, { token: ALPHA })).status).toBe(
        404,
      );
      expect((await w.view.application('7002', r.body.app_id))?.appKeys).not.toContain('my-own-key');
      expect((await auditRows(w, 'key.created')).length).toBe(4);
      expect((await auditRows(w, 'key.deleted')).length).toBe(1);
      expect(JSON.stringify(await auditRows(w, 'key.created'))).not.toContain(added.body.value);
    });

    it("honours the plan's approval_required: pending, refused until approved", async () => {
      const r = await create({ name: 'gated', service_id: '7001', plan_id: plan['7001/gated'] });
      expect(r.status).toBe(201);
      expect(r.body.state).toBe('pending');
      expect((await w.view.application('7001', r.body.app_id))?.state).toBe('pending');
      const ok = await w.call('POST', `/applications/${r.body.id}/approve`, { token: ALPHA });
      expect(ok.body.state).toBe('active');
      expect((await w.view.application('7001', r.body.app_id))?.state).toBe('active');
      expect((await auditRows(w, 'application.approved')).length).toBe(1);
      expect((await w.call('DELETE', `/applications/${r.body.id}`, { token: ALPHA })).status).toBe(204);
    });

    it('gets, updates (If-Match) and lists applications with filters and cursors', async () => {
      const all = await w.call('GET', '/applications', { token: ALPHA });
      expect(all.body.items).toHaveLength(4);
      const web = all.body.items.find((a: { name: string }) => a.name === 'web');
      const got = await w.call('GET', `/applications/${web.id}`, { token: ALPHA });
      expect(got.headers.etag).toBeTruthy();
      expect((await w.call('GET', `/applications/${web.id}`, { token: BETA })).status).toBe(404);
      const body = { name: 'web2', description: null, redirect_url: 'https://web.test/cb' };
      expect(
        (
          await w.call('PATCH', `/applications/${web.id}`, {
            token: ALPHA,
            body,
            headers: { 'if-match': '"x"' },
          })
        ).status,
      ).toBe(412);
      const upd = await w.call('PATCH', `/applications/${web.id}`, {
        token: ALPHA,
        body,
        headers: { 'if-match': String(got.headers.etag) },
      });
      expect(upd.body).toMatchObject(body);
      expect((await w.view.application('7001', web.app_id))?.redirectUrl).toBe('https://web.test/cb');
      expect(
        (await w.call('PATCH', `/applications/${web.id}`, { token: ALPHA, body: { state: 'x' } })).status,
      ).toBe(400);
      const mine = await w.call('GET', `/accounts/${accountId}/applications`, { token: ALPHA });
      expect(mine.body.items.map((a: { name: string }) => a.name).sort()).toEqual(['ios', 'web2']);
      const bySvc = await w.call('GET', '/applications?service_id=7002', { token: ALPHA });
      expect(bySvc.body.items.every((a: { service_id: string }) => a.service_id === '7002')).toBe(true);
      expect(bySvc.body.items).toHaveLength(2);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const q: string = cursor ? `&cursor=${cursor}` : '';
        const p = await w.call('GET', `/applications?limit=3${q}`, { token: ALPHA });
        seen.push(...p.body.items.map((a: { id: string }) => a.id));
        cursor = p.body.next_cursor;
      } while (cursor);
      expect(seen).toEqual(all.body.items.map((a: { id: string }) => a.id));
      expect((await w.call('GET', `/accounts/${accountId}/applications`, { token: BETA })).status).toBe(404);
    });

    it('suspends, resumes, approves and changes plan: live in the view, audited', async () => {
      const web = (await w.call('GET', '/applications?service_id=7001', { token: ALPHA })).body.items.find(
        (a: { name: string }) => a.name === 'web2',
      );
      const s = await w.call('POST', `/applications/${web.id}/suspend`, { token: ALPHA });
      expect(s.body.state).toBe('suspended');
      expect((await w.view.application('7001', web.app_id))?.state).toBe('suspended');
      expect((await w.call('POST', `/applications/${web.id}/suspend`, { token: ALPHA })).status).toBe(409);
      expect((await w.call('POST', `/applications/${web.id}/approve`, { token: ALPHA })).status).toBe(409);
      const suspendedList = await w.call('GET', '/applications?state=suspended', { token: ALPHA });
      expect(suspendedList.body.items.map((a: { id: string }) => a.id)).toEqual([web.id]);
      expect((await w.call('POST', `/applications/${web.id}/resume`, { token: ALPHA })).body.state).toBe(
        'active',
      );
      expect((await w.view.application('7001', web.app_id))?.state).toBe('active');
      expect((await auditRows(w, 'application.suspended')).length).toBe(1);
      expect((await auditRows(w, 'application.resumed')).length).toBe(1);
      // approve: pending → active (pending set here as the seeding config would).
      await w.store.db
        .updateTable('applications')
        .set({ state: 'pending' })
        .where('id', '=', web.id)
        .execute();
      expect((await w.call('POST', `/applications/${web.id}/approve`, { token: ALPHA })).body.state).toBe(
        'active',
      );

      const bad = await w.call('POST', `/applications/${web.id}/change_plan`, {
        token: ALPHA,
        body: { plan_id: plan['7002/basic'] },
      });
      expect(bad.status).toBe(400);
      const ok = await w.call('POST', `/applications/${web.id}/change_plan`, {
        token: ALPHA,
        body: { plan_id: plan['7001/pro'] },
      });
      expect(ok.body.plan_id).toBe(plan['7001/pro']);
      expect((await w.view.application('7001', web.app_id))?.planId).toBe(plan['7001/pro']);
      expect((await auditRows(w, 'application.plan_changed')).length).toBe(1);
      expect((await w.call('POST', `/applications/${web.id}/suspend`, { token: BETA })).status).toBe(404);
    });

    it('regenerates the user_key (old refused, new works) and manages referrer filters', async () => {
      const web = (await w.call('GET', '/applications?service_id=7001', { token: ALPHA })).body.items.find(
        (a: { name: string }) => a.name === 'web2',
      );
      const r = await w.call('POST', `/applications/${web.id}/user_key/regenerate`, { token: ALPHA });
      expect(r.body.user_key).toMatch(/^[0-9a-f]{32}$/);
      expect(r.body.user_key).not.toBe(web.user_key);
      expect(await w.view.appIdByUserKey('7001', web.user_key)).toBeNull();
      expect(await w.view.appIdByUserKey('7001', r.body.user_key)).toBe(web.app_id);
      expect(JSON.stringify(await auditRows(w, 'application.user_key_regenerated'))).not.toContain(
        r.body.user_key,
      );

      const f = '*.example.com/*';
      const add = await w.call('POST', `/applications/${web.id}/referrer_filters`, {
        token: ALPHA,
        body: { value: f },
      });
      expect(add.status).toBe(201);
      expect(
        (await w.call('POST', `/applications/${web.id}/referrer_filters`, { token: ALPHA, body: {} })).status,
      ).toBe(400);
      expect((await w.view.application('7001', web.app_id))?.referrerFilters).toEqual([f]);
      const list = await w.call('GET', `/applications/${web.id}/referrer_filters`, { token: ALPHA });
      expect(list.body.items).toEqual([{ value: f }]);
      const enc = Buffer.from(f).toString('base64url');
      expect(
        (await w.call('DELETE', `/applications/${web.id}/referrer_filters/${enc}`, { token: BETA })).status,
      ).toBe(404);
      expect(
        (await w.call('DELETE', `/applications/${web.id}/referrer_filters/${enc}`, { token: ALPHA })).status,
      ).toBe(204);
      expect((await w.view.application('7001', web.app_id))?.referrerFilters).toEqual([]);
      expect((await auditRows(w, 'referrer_filter.created')).length).toBe(1);
    });

    it('export after API changes applies back with no change, then deletes apps live', async () => {
      await w.call('PATCH', `/accounts/${accountId}`, { token: ALPHA, body: { state: 'pending' } });
      await w.call('POST', `/accounts/${accountId}/users`, { token: ALPHA, body: { email: 'x@devs.test' } });
      const u = await w.call('POST', '/users', {
        token: ALPHA,
        body: { email: 'staff@alpha.test', role: 'admin' },
      });
      await w.call('POST', '/access_tokens', {
        token: ALPHA,
        body: { name: 'api-made', scopes: ['analytics', 'management'], read_only: true, user_id: u.body.id },
      });
      const ios = (await w.call('GET', '/applications?service_id=7002', { token: ALPHA })).body.items.find(
        (a: { name: string }) => a.name === 'ios',
      );
      await w.call('PATCH', `/applications/${ios.id}`, { token: ALPHA, body: { description: 'iPhone app' } });
      // Deleting the first app of an account keeps positions dense (apply writes them 0..n-1).
      const seededApps = (
        await w.call('GET', '/applications?service_id=7001', { token: ALPHA })
      ).body.items.find((a: { name: string }) => a.name === 'one');
      expect((await w.call('DELETE', `/applications/${seededApps.id}`, { token: ALPHA })).status).toBe(204);
      expect(await w.view.appIdByUserKey('7001', 'seeded-key-1')).toBeNull();
      const doc = await exportConfig(w.store.db, { tenants: ['alpha'] });
      const exported = JSON.stringify(doc);
      expect(exported).toContain('iPhone app');
      expect(exported).toContain('"state":"pending"');
      const result = await applyConfig(w.store.db, doc);
      expect(result.changes).toEqual([]);
      expect((await w.view.application('7002', ios.app_id))?.state).toBe('suspended');

      expect((await w.call('DELETE', `/applications/${ios.id}`, { token: BETA })).status).toBe(404);
      expect((await w.call('DELETE', `/applications/${ios.id}`, { token: ALPHA })).status).toBe(204);
      expect(await w.view.application('7002', ios.app_id)).toBeNull();
      expect((await w.call('GET', `/applications/${ios.id}`, { token: ALPHA })).status).toBe(404);
      expect(
        (await applyConfig(w.store.db, await exportConfig(w.store.db, { tenants: ['alpha'] }))).changes,
      ).toEqual([]);
    });
  });
}
