// The webhook endpoint API over real HTTP on SQLite and PostgreSQL: create (secret shown once), list,
// get with ETag, update with If-Match, rotate, delete; validation, scopes, tenant isolation, audit rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlCases } from '../config/sql-cases.js';
import { type Harness, startHarness, startReceiver } from '../notify/harness.js';

for (const c of sqlCases) {
  describe.skipIf(!c.available)(`admin API: webhooks (${c.name})`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness(c);
    });
    afterAll(() => h.close());

    const create = (body: unknown, token = 'alpha-token') => h.api('POST', '/webhooks', { token, body });
    const audit = (objectId: string) =>
      h.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('object_id', '=', objectId)
        .orderBy('seq')
        .execute();

    it('creates an endpoint, shows the secret once, and never again', async () => {
      const r = await create({
        url: 'https://hooks.example.com/t',
        events: ['application.*'],
        description: 'ops',
      });
      expect(r.status).toBe(201);
      expect(r.json).toMatchObject({
        url: 'https://hooks.example.com/t',
        events: ['application.*'],
        active: true,
      });
      expect(r.json.secret).toMatch(/^whsec_/);
      const g = await h.api('GET', `/webhooks/${r.json.id}`);
      expect(g.status).toBe(200);
      expect(g.json.secret).toBeUndefined();
      expect(g.json.description).toBe('ops');
      expect(g.headers.etag).toBeTruthy();
      const rows = await audit(r.json.id);
      expect(rows.map((a) => a.action)).toEqual(['webhook.created']);
      expect(rows[0]!.after).not.toContain(r.json.secret);
      const given = await create({
        url: 'http://127.0.0.1:9/x',
        events: ['*'],
        secret: 'my-own-secret-0123456789',
      });
      expect(given.json.secret).toBe('my-own-secret-0123456789');
    });

    it('refuses invalid bodies with 400 and the failing field', async () => {
      for (const body of [
        { url: 'ftp://x.example/y', events: ['*'] },
        { url: 'not a url', events: ['*'] },
        { url: 'https://x.example', events: [] },
        { url: 'https://x.example', events: ['Bad Type'] },
        { url: 'https://x.example', events: ['*'], extra: 1 },
        { url: 'https://x.example', events: ['*'], secret: 'short' },
      ]) {
        const r = await create(body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.json.code).toBe('invalid_request');
      }
    });

    it('lists the tenant’s endpoints in pages, and no other tenant’s', async () => {
      for (let i = 0; i < 3; i++)
        await create({ url: `https://beta.example/${i}`, events: ['*'] }, 'beta-token');
      const p1 = await h.api('GET', '/webhooks?limit=2', { token: 'beta-token' });
      expect(p1.json.items).toHaveLength(2);
      const p2 = await h.api('GET', `/webhooks?limit=2&cursor=${p1.json.next_cursor}`, {
        token: 'beta-token',
      });
      expect(p2.json.items).toHaveLength(1);
      expect(p2.json.next_cursor).toBeNull();
      const urls = [...p1.json.items, ...p2.json.items].map((w: { url: string }) => w.url);
      expect(urls).toEqual(['https://beta.example/0', 'https://beta.example/1', 'https://beta.example/2']);
      const alpha = await h.api('GET', '/webhooks?limit=500');
      expect(alpha.json.items.some((w: { url: string }) => w.url.startsWith('https://beta.'))).toBe(false);
    });

    it('updates with If-Match (412 on a stale ETag) and audits before/after', async () => {
      const { json: w } = await create({ url: 'https://a.example/u', events: ['*'] });
      const g = await h.api('GET', `/webhooks/${w.id}`);
      const stale = await h.api('PATCH', `/webhooks/${w.id}`, {
        body: { active: false },
        headers: { 'if-match': '"stale"' },
      });
      expect(stale.status).toBe(412);
      const ok = await h.api('PATCH', `/webhooks/${w.id}`, {
        body: { active: false, events: ['plan.updated'] },
        headers: { 'if-match': String(g.headers.etag) },
      });
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ active: false, events: ['plan.updated'] });
      expect((await h.api('PATCH', `/webhooks/${w.id}`, { body: {} })).status).toBe(400);
      expect((await h.api('PATCH', `/webhooks/${w.id}`, { body: { url: 'gopher://x' } })).status).toBe(400);
      const rows = await audit(w.id);
      expect(rows.map((a) => a.action)).toEqual(['webhook.created', 'webhook.updated']);
      expect(JSON.parse(rows[1]!.before!).active).toBe(true);
      expect(JSON.parse(rows[1]!.after!).active).toBe(false);
    });

    it("answers 404 for another tenant's endpoint on every route", async () => {
      const { json: w } = await create({ url: 'https://a.example/iso', events: ['*'] });
      const t = { token: 'beta-token' };
      const answers = [
        await h.api('GET', `/webhooks/${w.id}`, t),
        await h.api('PATCH', `/webhooks/${w.id}`, { ...t, body: { active: false } }),
        await h.api('DELETE', `/webhooks/${w.id}`, t),
        await h.api('POST', `/webhooks/${w.id}/rotate_secret`, t),
        await h.api('POST', `/webhooks/${w.id}/test`, t),
        await h.api('GET', `/webhooks/${w.id}/deliveries`, t),
      ];
      for (const r of answers) {
        expect(r.status).toBe(404);
        expect(r.json.code).toBe('not_found');
      }
      const d = await h.api('POST', `/webhooks/${w.id}/test`);
      const other = await h.api('GET', `/webhooks/${w.id}/deliveries/${d.json.id}`, t);
      expect(other.status).toBe(404);
      expect((await h.api('GET', `/webhooks/${w.id}`)).json.active).toBe(true);
    });

    it('enforces token, scope and read-only on reads and writes', async () => {
      expect((await h.api('GET', '/webhooks', { token: '' })).status).toBe(401);
      expect((await h.api('GET', '/webhooks', { token: 'nope-token' })).status).toBe(401);
      expect((await h.api('GET', '/webhooks', { token: 'alpha-analytics' })).status).toBe(403);
      expect((await h.api('GET', '/audit_log', { token: 'alpha-analytics' })).status).toBe(403);
      expect((await h.api('GET', '/webhooks', { token: 'alpha-readonly' })).status).toBe(200);
      const ro = await create({ url: 'https://a.example/ro', events: ['*'] }, 'alpha-readonly');
      expect(ro.status).toBe(403);
    });

    it('rotates the secret: the new one signs from then on, the old one no longer verifies', async () => {
      const box = { secret: '' };
      const rx = await startReceiver(() => box.secret);
      try {
        const { json: w } = await create({ url: rx.url, events: ['webhook.test'] });
        const rot = await h.api('POST', `/webhooks/${w.id}/rotate_secret`);
        expect(rot.status).toBe(200);
        expect(rot.json.secret).toMatch(/^whsec_/);
        expect(rot.json.secret).not.toBe(w.secret);
        await h.api('POST', `/webhooks/${w.id}/test`);
        box.secret = w.secret;
        const d = h.dispatcher();
        await d.runOnce();
        expect(rx.received).toHaveLength(1);
        expect(rx.received[0]!.verified).toBe(false);
        box.secret = rot.json.secret;
        await h.api('POST', `/webhooks/${w.id}/test`);
        await d.runOnce();
        expect(rx.received[1]!.verified).toBe(true);
        expect((await audit(w.id)).map((a) => a.action)).toContain('webhook.secret_rotated');
      } finally {
        await rx.close();
      }
    });

    it('deletes with If-Match, with its deliveries, and audits it', async () => {
      const { json: w } = await create({ url: 'https://a.example/del', events: ['*'] });
      await h.api('POST', `/webhooks/${w.id}/test`);
      expect((await h.api('DELETE', `/webhooks/${w.id}`, { headers: { 'if-match': '"x"' } })).status).toBe(
        412,
      );
      expect((await h.api('DELETE', `/webhooks/${w.id}`)).status).toBe(204);
      expect((await h.api('GET', `/webhooks/${w.id}`)).status).toBe(404);
      const left = await h.store.db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('endpoint_id', '=', w.id)
        .execute();
      expect(left).toHaveLength(0);
      expect((await audit(w.id)).map((a) => a.action).at(-1)).toBe('webhook.deleted');
    });

    it('filters and pages deliveries, and validates their query', async () => {
      const { json: w } = await create({ url: 'https://a.example/list', events: ['webhook.*'] });
      for (let i = 0; i < 3; i++) await h.api('POST', `/webhooks/${w.id}/test`);
      await h.api('PATCH', `/webhooks/${w.id}`, { body: { description: 'd' } });
      const all = await h.api('GET', `/webhooks/${w.id}/deliveries`);
      // Newest first: webhook.updated, then the tests, then webhook.created (its own creation).
      expect(all.json.items.map((d: { event_type: string }) => d.event_type)).toEqual([
        'webhook.updated',
        'webhook.test',
        'webhook.test',
        'webhook.test',
        'webhook.created',
      ]);
      const tests = await h.api('GET', `/webhooks/${w.id}/deliveries?event_type=webhook.test&limit=2`);
      expect(tests.json.items).toHaveLength(2);
      const more = await h.api(
        'GET',
        `/webhooks/${w.id}/deliveries?event_type=webhook.test&limit=2&cursor=${tests.json.next_cursor}`,
      );
      expect(more.json.items).toHaveLength(1);
      expect(more.json.next_cursor).toBeNull();
      expect((await h.api('GET', `/webhooks/${w.id}/deliveries?status=delivered`)).json.items).toHaveLength(
        0,
      );
      expect((await h.api('GET', `/webhooks/${w.id}/deliveries?status=nope`)).status).toBe(400);
      expect((await h.api('GET', `/webhooks/${w.id}/deliveries?cursor=%%%`)).status).toBe(400);
      expect((await h.api('GET', `/webhooks/${w.id}/deliveries/missing`)).status).toBe(404);
      await h.api('DELETE', `/webhooks/${w.id}`);
    });
  });
}
