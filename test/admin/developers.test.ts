// Tenants, users, access tokens, developer accounts and account users over real HTTP, on SQLite and
// PostgreSQL: every operation, cross-tenant 404, If-Match 412, member tokens, expiry, audit, live view.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConfig } from '../../src/config/apply.js';
import { exportConfig } from '../../src/config/export.js';
import { createPlatformToken } from '../../src/store/sql/repo/developers.js';
import { sqlCases } from '../config/sql-cases.js';
import { auditRows, openWorld, type World } from './developers-fixture.js';

const ALPHA = 'alpha-token';
const BETA = 'beta-token';

for (const c of sqlCases) {
  describe.skipIf(!c.available)(`admin API developers: tenants, users, tokens, accounts (${c.name})`, () => {
    let w: World;
    beforeAll(async () => {
      w = await openWorld(c);
    });
    afterAll(() => w.close());

    it('manages tenants with a platform token; tenant tokens may not', async () => {
      const { value: platform } = await createPlatformToken(w.store.db, 'bootstrap', w.clock.now);
      expect((await w.call('GET', '/tenants', { token: ALPHA })).status).toBe(403);
      const created = await w.call('POST', '/tenants', { token: platform, body: { name: 'gamma' } });
      expect(created.status).toBe(201);
      expect(created.body.tenant.provider_key).toMatch(/^[0-9a-f]{32}$/);
      const first = created.body.admin_token.value as string;
      expect((await w.call('GET', '/accounts', { token: first })).status).toBe(200);
      expect((await w.call('POST', '/tenants', { token: platform, body: { name: 'gamma' } })).status).toBe(
        409,
      );
      expect(
        (await w.call('POST', '/tenants', { token: platform, body: { name: 'Not A Slug' } })).status,
      ).toBe(400);
      const list = await w.call('GET', '/tenants?limit=2', { token: platform });
      expect(list.body.items.map((t: { name: string }) => t.name)).toEqual(['alpha', 'beta']);
      const next = await w.call('GET', `/tenants?limit=2&cursor=${list.body.next_cursor}`, {
        token: platform,
      });
      expect(next.body.items.map((t: { name: string }) => t.name)).toEqual(['gamma']);
      const id = created.body.tenant.id as string;
      const got = await w.call('GET', `/tenants/${id}`, { token: platform });
      expect(got.headers.etag).toBeTruthy();
      const stale = await w.call('PATCH', `/tenants/${id}`, {
        token: platform,
        body: { provider_key: 'gamma-new-key' },
        headers: { 'if-match': '"nope"' },
      });
      expect(stale.status).toBe(412);
      const upd = await w.call('PATCH', `/tenants/${id}`, {
        token: platform,
        body: { provider_key: 'gamma-new-key' },
        headers: { 'if-match': String(got.headers.etag) },
      });
      expect(upd.status).toBe(200);
      expect((await w.view.tenantByProviderKey('gamma-new-key'))?.id).toBe(id);
      expect((await w.call('DELETE', `/tenants/${id}`, { token: platform })).status).toBe(204);
      expect(await w.view.tenantByProviderKey('gamma-new-key')).toBeNull();
      expect((await w.call('GET', '/accounts', { token: first })).status).toBe(401);
      expect((await w.call('GET', `/tenants/${id}`, { token: platform })).status).toBe(404);
      expect((await auditRows(w, 'tenant.created')).length).toBe(1);
      // The provider key and the token value never reach the audit log.
      const rows = await w.store.db.selectFrom('audit_log').select(['before', 'after']).execute();
      const text = JSON.stringify(rows);
      expect(text).not.toContain(first);
      expect(text).not.toContain('gamma-new-key');
    });

    it('creates access tokens shown once, scoped, read-only, expiring, revocable', async () => {
      const created = await w.call('POST', '/access_tokens', {
        token: ALPHA,
        body: { name: 'reader', scopes: ['management'], read_only: true },
      });
      expect(created.status).toBe(201);
      const reader = created.body.value as string;
      expect((await w.call('GET', '/accounts', { token: reader })).status).toBe(200);
      const write = await w.call('POST', '/accounts', { token: reader, body: { name: 'x' } });
      expect(write.status).toBe(403);
      const stats = await w.call('POST', '/access_tokens', {
        token: ALPHA,
        body: { name: 'stats', scopes: ['analytics'] },
      });
      expect((await w.call('GET', '/accounts', { token: stats.body.value })).status).toBe(403);
      expect(
        (
          await w.call('POST', '/access_tokens', {
            token: ALPHA,
            body: { name: 'reader', scopes: ['billing'] },
          })
        ).status,
      ).toBe(409);
      expect(
        (await w.call('POST', '/access_tokens', { token: ALPHA, body: { name: 'bad', scopes: ['root'] } }))
          .status,
      ).toBe(400);
      const list = await w.call('GET', '/access_tokens', { token: ALPHA });
      expect(list.body.items.map((t: { name: string }) => t.name)).toEqual(['ci', 'reader', 'stats']);
      expect(JSON.stringify(list.body)).not.toContain(reader);
      expect(JSON.stringify(list.body)).not.toContain('token_hash');

      const soon = await w.call('POST', '/access_tokens', {
        token: ALPHA,
        body: {
          name: 'short',
          scopes: ['management'],
          expires_at: new Date(w.clock.now + 60_000).toISOString(),
        },
      });
      expect((await w.call('GET', '/accounts', { token: soon.body.value })).status).toBe(200);
      w.clock.now += 120_000;
      const expired = await w.call('GET', '/accounts', { token: soon.body.value });
      expect(expired.status).toBe(401);
      expect(expired.body.code).toBe('token_expired');

      expect((await w.call('GET', `/access_tokens/${created.body.id}`, { token: BETA })).status).toBe(404);
      expect((await w.call('DELETE', `/access_tokens/${created.body.id}`, { token: BETA })).status).toBe(404);
      expect((await w.call('DELETE', `/access_tokens/${created.body.id}`, { token: ALPHA })).status).toBe(
        204,
      );
      expect((await w.call('GET', '/accounts', { token: reader })).status).toBe(401);
      expect((await auditRows(w, 'token.created')).length).toBeGreaterThanOrEqual(3);
      expect(JSON.stringify(await auditRows(w, 'token.created'))).not.toContain(reader);
      for (const id of [stats.body.id, soon.body.id])
        expect((await w.call('DELETE', `/access_tokens/${id}`, { token: ALPHA })).status).toBe(204);
    });

    it('users: CRUD, and a member token reaches only its services', async () => {
      const bad = await w.call('POST', '/users', {
        token: ALPHA,
        body: { email: 'm@alpha.test', role: 'member', permissions: { services: ['nope'] } },
      });
      expect(bad.status).toBe(400);
      const m = await w.call('POST', '/users', {
        token: ALPHA,
        body: { email: 'm@alpha.test', name: 'Mia', role: 'member', permissions: { services: ['7001'] } },
      });
      expect(m.status).toBe(201);
      expect(
        (await w.call('POST', '/users', { token: ALPHA, body: { email: 'm@alpha.test', role: 'admin' } }))
          .status,
      ).toBe(409);
      expect((await w.call('GET', `/users/${m.body.id}`, { token: BETA })).status).toBe(404);
      const tok = await w.call('POST', '/access_tokens', {
        token: ALPHA,
        body: { name: 'mia', scopes: ['management'], user_id: m.body.id },
      });
      const mia = tok.body.value as string;
      const apps = await w.call('GET', '/applications', { token: mia });
      expect(apps.status).toBe(200);
      expect(apps.body.items.map((a: { service_id: string }) => a.service_id)).toEqual(['7001']);
      const all = await w.call('GET', '/applications', { token: ALPHA });
      const other = all.body.items.find((a: { service_id: string }) => a.service_id === '7002');
      const mine = all.body.items.find((a: { service_id: string }) => a.service_id === '7001');
      expect((await w.call('GET', `/applications/${other.id}`, { token: mia })).status).toBe(404);
      expect((await w.call('POST', `/applications/${other.id}/suspend`, { token: mia })).status).toBe(404);
      expect((await w.call('GET', `/applications/${mine.id}`, { token: mia })).status).toBe(200);
      expect((await w.call('GET', '/users', { token: mia })).status).toBe(403);
      expect((await w.call('GET', `/users/${m.body.id}`, { token: mia })).status).toBe(200);
      // A member's tokens are its own and never wider.
      const wide = await w.call('POST', '/access_tokens', {
        token: mia,
        body: { name: 'mia-2', scopes: ['management', 'billing'] },
      });
      expect(wide.status).toBe(403);
      const own = await w.call('POST', '/access_tokens', {
        token: mia,
        body: { name: 'mia-2', scopes: ['management'] },
      });
      expect(own.status).toBe(201);
      expect(own.body.user_id).toBe(m.body.id);
      const seen = await w.call('GET', '/access_tokens', { token: mia });
      expect(seen.body.items.map((t: { name: string }) => t.name)).toEqual(['mia', 'mia-2']);

      const got = await w.call('GET', `/users/${m.body.id}`, { token: ALPHA });
      const stale = await w.call('PATCH', `/users/${m.body.id}`, {
        token: ALPHA,
        body: { permissions: { services: 'all' } },
        headers: { 'if-match': '"stale"' },
      });
      expect(stale.status).toBe(412);
      const upd = await w.call('PATCH', `/users/${m.body.id}`, {
        token: ALPHA,
        body: { permissions: { services: 'all' } },
        headers: { 'if-match': String(got.headers.etag) },
      });
      expect(upd.status).toBe(200);
      expect((await w.call('GET', `/applications/${other.id}`, { token: mia })).status).toBe(200);
      // Areas narrow the scopes of the member's tokens.
      await w.call('PATCH', `/users/${m.body.id}`, {
        token: ALPHA,
        body: { permissions: { services: 'all', areas: ['analytics'] } },
      });
      expect((await w.call('GET', '/applications', { token: mia })).status).toBe(403);
      const list = await w.call('GET', '/users', { token: ALPHA });
      expect(list.body.items.map((u: { email: string }) => u.email)).toEqual(['m@alpha.test']);
      expect((await auditRows(w, 'user.created')).length).toBe(1);
      // Users' tokens stay out of the config: not exported, and applying the export keeps them working.
      const exported = await exportConfig(w.store.db, { tenants: ['alpha'] });
      expect(JSON.stringify(exported)).not.toContain('mia');
      expect((await applyConfig(w.store.db, exported)).changes).toEqual([]);
      const kept = await w.store.db
        .selectFrom('admin_tokens')
        .select('name')
        .where('user_id', '=', m.body.id)
        .execute();
      expect(kept.map((t) => t.name).sort()).toEqual(['mia', 'mia-2']);
      expect((await w.call('DELETE', `/users/${m.body.id}`, { token: ALPHA })).status).toBe(204);
      expect((await w.call('GET', '/accounts', { token: mia })).status).toBe(401);
      const tokens = await w.call('GET', '/access_tokens', { token: ALPHA });
      expect(tokens.body.items.map((t: { name: string }) => t.name)).toEqual(['ci']);
    });

    it('accounts: CRUD with filters, ETags, 409 and cross-tenant 404; suspension holds its apps', async () => {
      expect((await w.call('POST', '/accounts', { token: ALPHA, body: {} })).status).toBe(400);
      const a = await w.call('POST', '/accounts', {
        token: ALPHA,
        body: { name: 'zeta', email: 'dev@zeta.test', state: 'pending' },
      });
      expect(a.status).toBe(201);
      expect(a.body.state).toBe('pending');
      expect((await w.call('POST', '/accounts', { token: ALPHA, body: { name: 'zeta' } })).status).toBe(409);
      const pending = await w.call('GET', '/accounts?state=pending', { token: ALPHA });
      expect(pending.body.items.map((x: { name: string }) => x.name)).toEqual(['zeta']);
      const named = await w.call('GET', '/accounts?name=seeded', { token: ALPHA });
      expect(named.body.items).toHaveLength(1);
      expect((await w.call('GET', `/accounts/${a.body.id}`, { token: BETA })).status).toBe(404);
      expect(
        (await w.call('PATCH', `/accounts/${a.body.id}`, { token: BETA, body: { name: 'q' } })).status,
      ).toBe(404);
      const got = await w.call('GET', `/accounts/${a.body.id}`, { token: ALPHA });
      const ok = await w.call('PATCH', `/accounts/${a.body.id}`, {
        token: ALPHA,
        body: { state: 'approved' },
        headers: { 'if-match': String(got.headers.etag) },
      });
      expect(ok.status).toBe(200);
      const again = await w.call('PATCH', `/accounts/${a.body.id}`, {
        token: ALPHA,
        body: { name: 'zeta2' },
        headers: { 'if-match': String(got.headers.etag) },
      });
      expect(again.status).toBe(412);
      expect((await auditRows(w, 'account.approved')).length).toBe(1);

      const seeded = named.body.items[0];
      expect(
        (await w.view.application('7001', (await w.view.appIdByUserKey('7001', 'seeded-key-1'))!))?.state,
      ).toBe('active');
      await w.call('PATCH', `/accounts/${seeded.id}`, { token: ALPHA, body: { state: 'suspended' } });
      const appId = (await w.view.appIdByUserKey('7001', 'seeded-key-1'))!;
      expect((await w.view.application('7001', appId))?.state).toBe('suspended');
      expect((await w.view.application('7002', 'seededappid2'))?.state).toBe('suspended');
      expect((await auditRows(w, 'account.suspended')).length).toBe(1);
      await w.call('PATCH', `/accounts/${seeded.id}`, { token: ALPHA, body: { state: 'approved' } });
      expect((await w.view.application('7001', appId))?.state).toBe('active');

      expect((await w.call('DELETE', `/accounts/${a.body.id}`, { token: BETA })).status).toBe(404);
      expect((await w.call('DELETE', `/accounts/${a.body.id}`, { token: ALPHA })).status).toBe(204);
      expect((await w.call('GET', `/accounts/${a.body.id}`, { token: ALPHA })).status).toBe(404);
    });

    it('account users: CRUD, email unique per account', async () => {
      const acc = (await w.call('GET', '/accounts?name=seeded', { token: ALPHA })).body.items[0];
      const path = `/accounts/${acc.id}/users`;
      const u = await w.call('POST', path, {
        token: ALPHA,
        body: { email: 'dev@seeded.test', role: 'admin' },
      });
      expect(u.status).toBe(201);
      expect((await w.call('POST', path, { token: ALPHA, body: { email: 'dev@seeded.test' } })).status).toBe(
        409,
      );
      expect((await w.call('POST', path, { token: ALPHA, body: { email: 'not-an-email' } })).status).toBe(
        400,
      );
      expect((await w.call('GET', path, { token: BETA })).status).toBe(404);
      const two = await w.call('POST', path, { token: ALPHA, body: { email: 'b@seeded.test' } });
      expect(two.body.role).toBe('member');
      const list = await w.call('GET', `${path}?limit=1`, { token: ALPHA });
      expect(list.body.items.map((x: { email: string }) => x.email)).toEqual(['b@seeded.test']);
      expect(list.body.next_cursor).not.toBeNull();
      const got = await w.call('GET', `${path}/${u.body.id}`, { token: ALPHA });
      expect(got.status).toBe(200);
      const upd = await w.call('PATCH', `${path}/${u.body.id}`, {
        token: ALPHA,
        body: { role: 'member', name: 'Dee' },
        headers: { 'if-match': String(got.headers.etag) },
      });
      expect(upd.body).toMatchObject({ role: 'member', name: 'Dee' });
      expect((await w.call('DELETE', `${path}/${u.body.id}`, { token: ALPHA })).status).toBe(204);
      expect((await w.call('GET', `${path}/${u.body.id}`, { token: ALPHA })).status).toBe(404);
      expect((await auditRows(w, 'account_user.created')).length).toBe(2);
    });
  });
}
