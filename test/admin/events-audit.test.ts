// The audit log API over real HTTP on SQLite and PostgreSQL: rows written by commitChange, filtered,
// paged newest first by seq, tenant-scoped, and exported as NDJSON and CSV.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlCases } from '../config/sql-cases.js';
import { type Harness, startHarness } from '../notify/harness.js';
import { accountEmailRoute } from '../notify/routes.js';

for (const c of sqlCases) {
  describe.skipIf(!c.available)(`admin API: audit log (${c.name})`, () => {
    let h: Harness;
    let hookId = '';
    let accountId = '';
    let between = '';
    let tokenId = '';

    beforeAll(async () => {
      h = await startHarness(c, [accountEmailRoute]);
      const w = await h.api('POST', '/webhooks', {
        body: { url: 'https://a.example/audit', events: ['*'] },
        headers: { 'x-request-id': 'req-audit-1' },
      });
      hookId = w.json.id;
      await h.api('PATCH', `/webhooks/${hookId}`, { body: { description: 'first' } });
      await new Promise((r) => setTimeout(r, 5));
      between = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      await h.api('PATCH', `/webhooks/${hookId}`, { body: { description: 'second, "quoted"\nline' } });
      const a = await h.api('POST', '/t/accounts/acme/email', { body: { email: 'audit@acme.test' } });
      accountId = a.json.id;
      await h.api('POST', '/t/accounts/acme/email', { token: 'beta-token', body: { email: 'b@acme.test' } });
      const tok = await h.store.db
        .selectFrom('admin_tokens as t')
        .innerJoin('tenants as n', 'n.id', 't.tenant_id')
        .select('t.id')
        .where('n.name', '=', 'alpha')
        .where('t.name', '=', 'ci')
        .executeTakeFirstOrThrow();
      tokenId = tok.id;
    });
    afterAll(() => h.close());

    const list = (q: string, token = 'alpha-token') => h.api('GET', `/audit_log${q}`, { token });
    const actions = (r: { json: { items: { action: string }[] } }) => r.json.items.map((e) => e.action);

    it('lists changes newest first with actor, request id, before and after', async () => {
      const r = await list(`?object_id=${hookId}`);
      expect(r.status).toBe(200);
      expect(actions(r)).toEqual(['webhook.updated', 'webhook.updated', 'webhook.created']);
      const created = r.json.items[2];
      expect(created).toMatchObject({
        object_type: 'webhook',
        actor_type: 'token',
        actor_id: tokenId,
        request_id: 'req-audit-1',
        before: null,
      });
      expect(created.after.url).toBe('https://a.example/audit');
      expect(r.json.items[0].seq).toBeGreaterThan(r.json.items[1].seq);
    });

    it('filters by object type, action, actor and time range', async () => {
      expect(actions(await list('?object_type=account'))).toEqual(['account.updated']);
      expect((await list('?object_type=account')).json.items[0].object_id).toBe(accountId);
      expect(actions(await list('?action=webhook.created'))).toEqual(['webhook.created']);
      expect((await list(`?actor_id=${tokenId}`)).json.items.length).toBeGreaterThanOrEqual(4);
      expect((await list('?actor_id=nobody')).json.items).toHaveLength(0);
      const after = await list(`?object_id=${hookId}&since=${encodeURIComponent(between)}`);
      expect(after.json.items.map((e: { after: { description: string } }) => e.after.description)).toEqual([
        'second, "quoted"\nline',
      ]);
      const before = await list(`?object_id=${hookId}&until=${encodeURIComponent(between)}`);
      expect(actions(before)).toEqual(['webhook.updated', 'webhook.created']);
      expect((await list('?since=yesterday')).status).toBe(400);
      expect((await list('?bogus=1')).status).toBe(400);
    });

    it('pages by cursor without gaps or repeats', async () => {
      const all = await list('?limit=500');
      const seen: number[] = [];
      let cursor = '';
      for (let i = 0; i < 20; i++) {
        const p = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...p.json.items.map((e: { seq: number }) => e.seq));
        if (p.json.next_cursor === null) break;
        cursor = p.json.next_cursor;
      }
      expect(seen).toEqual(all.json.items.map((e: { seq: number }) => e.seq));
      expect(seen.length).toBeGreaterThanOrEqual(4);
      expect((await list('?cursor=bm9wZQ')).status).toBe(400);
    });

    it('shows a tenant only its own log', async () => {
      const beta = await list('?limit=500', 'beta-token');
      expect(beta.json.items.some((e: { object_id: string }) => e.object_id === hookId)).toBe(false);
      expect(actions(await list('?object_type=account', 'beta-token'))).toEqual(['account.updated']);
      expect((await list('?object_type=account', 'beta-token')).json.items[0].object_id).not.toBe(accountId);
    });

    it('exports the filtered log as NDJSON and as CSV', async () => {
      const nd = await h.api('GET', `/audit_log/export?object_id=${hookId}`);
      expect(nd.status).toBe(200);
      expect(nd.headers['content-type']).toContain('application/x-ndjson');
      const lines = nd.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((e) => e.action)).toEqual(['webhook.updated', 'webhook.updated', 'webhook.created']);
      const listed = await list(`?object_id=${hookId}`);
      expect(lines).toEqual(listed.json.items);

      const csv = await h.api('GET', `/audit_log/export?format=csv&object_id=${hookId}`);
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toContain('text/csv');
      expect(csv.headers['content-disposition']).toContain('audit-log.csv');
      expect(csv.text.startsWith('seq,id,created_at,actor_type,actor_id,action,object_type,object_id,')).toBe(
        true,
      );
      // JSON columns are one RFC 4180 field each: their quotes doubled, the whole field quoted.
      expect(csv.text).toContain(',"{""id"":""');
      expect(csv.text).toContain('second, \\""quoted\\""\\nline');
      expect(csv.text.split('\r\n').filter((l) => l.includes(',webhook.')).length).toBe(3);
      expect((await h.api('GET', '/audit_log/export?format=xml')).status).toBe(400);
      const beta = await h.api('GET', `/audit_log/export?object_id=${hookId}`, { token: 'beta-token' });
      expect(beta.text).toBe('');
    });

    it('exports a log longer than one batch, in order', async () => {
      const rows = Array.from({ length: 1203 }, (_, i) => ({
        id: `bulk-${c.name}-${i}`,
        tenant_id: null as string | null,
        actor_type: 'token',
        actor_id: 'bulk',
        action: 'bulk.created',
        object_type: 'bulk',
        object_id: String(i),
        before: null,
        after: null,
        request_id: 'bulk',
        created_at: Date.now(),
      }));
      const tenant = await h.store.db
        .selectFrom('tenants')
        .select('id')
        .where('name', '=', 'alpha')
        .executeTakeFirstOrThrow();
      for (let i = 0; i < rows.length; i += 200) {
        await h.store.db
          .insertInto('audit_log')
          .values(rows.slice(i, i + 200).map((r) => ({ ...r, tenant_id: tenant.id })))
          .execute();
      }
      const nd = await h.api('GET', '/audit_log/export?action=bulk.created');
      const ids = nd.text
        .trimEnd()
        .split('\n')
        .map((l) => Number(JSON.parse(l).object_id));
      expect(ids).toHaveLength(1203);
      expect(ids[0]).toBe(1202);
      expect(ids.at(-1)).toBe(0);
    });
  });
}
