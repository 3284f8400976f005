// Signed webhooks end to end, over real HTTP and a real receiver, on SQLite and PostgreSQL: an API change
// becomes an outbox row in its transaction, the dispatcher signs and sends it, retries with backoff,
// survives a restart, never double-sends under two dispatchers, gives up, and redelivers on request.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sqlCases } from '../config/sql-cases.js';
import { type Harness, startHarness, startReceiver, waitFor } from './harness.js';
import { accountEmailRoute } from './routes.js';

for (const c of sqlCases) {
  describe.skipIf(!c.available)(`webhooks end to end (${c.name})`, () => {
    let h: Harness;
    const cleanups: Array<() => Promise<void>> = [];

    beforeAll(async () => {
      h = await startHarness(c, [accountEmailRoute]);
    });
    afterEach(async () => {
      for (const f of cleanups.splice(0).reverse()) await f();
      await h.store.db.deleteFrom('webhook_endpoints').execute();
    });
    afterAll(() => h.close());

    async function receiver(answer?: (n: number) => number) {
      const box = { secret: '' };
      const r = await startReceiver(() => box.secret, answer);
      cleanups.push(r.close);
      return { ...r, box };
    }
    async function endpoint(url: string, events: string[], token = 'alpha-token') {
      const res = await h.api('POST', '/webhooks', { token, body: { url, events } });
      expect(res.status).toBe(201);
      return res.json as { id: string; secret: string };
    }
    function dispatcher(opts = {}) {
      const d = h.dispatcher(opts);
      cleanups.push(() => d.stop());
      return d;
    }
    const setEmail = (email: string, token = 'alpha-token') =>
      h.api('POST', '/t/accounts/acme/email', { token, body: { email } });
    const deliveries = (id: string, q = '') => h.api('GET', `/webhooks/${id}/deliveries${q}`);

    it('delivers a committed change to the subscribed endpoint, signed with the shown secret', async () => {
      const rx = await receiver();
      const ep = await endpoint(rx.url, ['account.*', 'webhook.created']);
      rx.box.secret = ep.secret;
      expect(ep.secret).toMatch(/^whsec_/);
      expect((await setEmail('new@acme.test')).status).toBe(200);
      // Not subscribed: a webhook.updated change and another tenant's account change.
      expect((await h.api('PATCH', `/webhooks/${ep.id}`, { body: { description: 'x' } })).status).toBe(200);
      expect((await setEmail('beta@acme.test', 'beta-token')).status).toBe(200);

      dispatcher().start();
      await waitFor('two deliveries', () => rx.received.length >= 2);
      const types = rx.received.map((r) => r.event.type).sort();
      expect(types).toEqual(['account.updated', 'webhook.created']);
      for (const r of rx.received) {
        expect(r.verified).toBe(true);
        expect(r.headers['content-type']).toBe('application/json');
        expect(r.headers['user-agent']).toBe('Tollgate-Webhooks/1');
        expect(r.headers['tollgate-event-id']).toBe(r.event.id);
        expect(r.headers['tollgate-event-type']).toBe(r.event.type);
        expect(r.event.tenant_id).toBeTruthy();
        expect(Date.parse(r.event.created_at)).not.toBeNaN();
      }
      const acct = rx.received.find((r) => r.event.type === 'account.updated')!.event;
      expect(acct.data.object_type).toBe('account');
      expect(acct.data.object.email).toBe('new@acme.test');
      expect(acct.data.previous.email).toBe('ops@acme.test');
      const created = rx.received.find((r) => r.event.type === 'webhook.created')!.event;
      expect(created.data.object.id).toBe(ep.id);
      expect(JSON.stringify(created)).not.toContain(ep.secret);
      expect(created.data.previous).toBeUndefined();

      await waitFor('delivered status', async () => {
        const l = await deliveries(ep.id, '?status=delivered');
        return l.json.items.length === 2;
      });
      const all = await deliveries(ep.id);
      expect(all.json.items).toHaveLength(2);
      expect(all.json.items.every((d: { attempt_count: number }) => d.attempt_count === 1)).toBe(true);
    });

    it('retries a 500 with backoff until a 2xx, logging every attempt', async () => {
      const rx = await receiver((n) => (n === 1 ? 500 : 200));
      const ep = await endpoint(rx.url, ['account.updated']);
      rx.box.secret = ep.secret;
      await setEmail('retry@acme.test');
      dispatcher().start();
      await waitFor('the retry', () => rx.received.length >= 2);
      expect(rx.received.every((r) => r.verified)).toBe(true);
      // Same event both times; the signature is fresh per attempt.
      expect(rx.received[0]!.event.id).toBe(rx.received[1]!.event.id);

      let id = '';
      await waitFor('delivered', async () => {
        const l = await deliveries(ep.id, '?status=delivered');
        id = l.json.items[0]?.id ?? '';
        return id !== '';
      });
      const full = await h.api('GET', `/webhooks/${ep.id}/deliveries/${id}`);
      expect(full.status).toBe(200);
      expect(full.json.status).toBe('delivered');
      expect(full.json.attempt_count).toBe(2);
      expect(full.json.event.type).toBe('account.updated');
      const [a1, a2] = full.json.attempts;
      expect(a1).toMatchObject({ attempt: 1, status_code: 500, error: 'HTTP 500' });
      expect(a1.response_body.startsWith('nope 1')).toBe(true);
      expect(a1.response_body.length).toBe(2048);
      expect(a2).toMatchObject({ attempt: 2, status_code: 200, error: null, response_body: 'ok' });
    });

    it('resumes pending deliveries with a new dispatcher over the same database', async () => {
      const rx = await receiver((n) => (n === 1 ? 503 : 200));
      const ep = await endpoint(rx.url, ['account.updated']);
      rx.box.secret = ep.secret;
      await setEmail('restart@acme.test');
      const first = dispatcher({ backoffMs: [200] });
      expect(await first.runOnce()).toBe(1);
      await first.stop();
      const pending = await deliveries(ep.id, '?status=pending');
      expect(pending.json.items).toHaveLength(1);
      expect(pending.json.items[0].attempt_count).toBe(1);
      expect(pending.json.items[0].last_status_code).toBe(503);

      // A crashed dispatcher's expired lease does not block the delivery either.
      await h.store.db
        .updateTable('webhook_deliveries')
        .set({ attempting_until: Date.now() - 1, lease_id: 'crashed' })
        .where('endpoint_id', '=', ep.id)
        .execute();
      dispatcher().start();
      await waitFor('resumed delivery', async () => {
        const l = await deliveries(ep.id, '?status=delivered');
        return l.json.items.length === 1;
      });
      expect(rx.received).toHaveLength(2);
    });

    it('never sends one attempt twice when two dispatchers poll together', async () => {
      const rx = await receiver();
      const ep = await endpoint(rx.url, ['webhook.test']);
      rx.box.secret = ep.secret;
      for (let i = 0; i < 6; i++) expect((await h.api('POST', `/webhooks/${ep.id}/test`)).status).toBe(202);
      const [a, b] = [dispatcher(), dispatcher()];
      const [na, nb] = await Promise.all([a.runOnce(), b.runOnce()]);
      expect(na + nb).toBe(6);
      const ids = rx.received.map((r) => String(r.headers['tollgate-delivery-id']));
      expect(ids).toHaveLength(6);
      expect(new Set(ids).size).toBe(6);
    });

    it('marks a delivery failed after the last attempt, and redelivers it on request', async () => {
      let healthy = false;
      const rx = await receiver(() => (healthy ? 204 : 500));
      const ep = await endpoint(rx.url, ['account.updated']);
      rx.box.secret = ep.secret;
      await setEmail('failing@acme.test');
      dispatcher({ maxAttempts: 3 }).start();
      let id = '';
      await waitFor('failed', async () => {
        const l = await deliveries(ep.id, '?status=failed');
        id = l.json.items[0]?.id ?? '';
        return id !== '';
      });
      expect(rx.received).toHaveLength(3);
      const failed = await h.api('GET', `/webhooks/${ep.id}/deliveries/${id}`);
      expect(failed.json.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([
        500, 500, 500,
      ]);
      expect(failed.json.next_attempt_at).toBeNull();

      healthy = true;
      const re = await h.api('POST', `/webhooks/${ep.id}/deliveries/${id}/redeliver`);
      expect(re.status).toBe(202);
      expect(re.json.status).toBe('pending');
      await waitFor('redelivered', async () => {
        const d = await h.api('GET', `/webhooks/${ep.id}/deliveries/${id}`);
        return d.json.status === 'delivered';
      });
      const done = await h.api('GET', `/webhooks/${ep.id}/deliveries/${id}`);
      expect(done.json.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([
        500, 500, 500, 204,
      ]);
      expect(done.json.delivered_at).not.toBeNull();
    });

    it('logs transport errors (connection refused) as attempts without a status code', async () => {
      const rx = await receiver();
      const url = rx.url;
      await rx.close();
      const ep = await endpoint(url, ['account.updated']);
      await setEmail('refused@acme.test');
      const d = dispatcher({ maxAttempts: 1 });
      expect(await d.runOnce()).toBe(1);
      const l = await deliveries(ep.id);
      expect(l.json.items[0].status).toBe('failed');
      const full = await h.api('GET', `/webhooks/${ep.id}/deliveries/${l.json.items[0].id}`);
      expect(full.json.attempts[0].status_code).toBeNull();
      expect(full.json.attempts[0].error).toContain('ECONNREFUSED');
    });

    it('sends a test event to that endpoint only, and pauses inactive endpoints', async () => {
      const rx = await receiver();
      const other = await receiver();
      const ep = await endpoint(rx.url, ['account.updated']);
      const ep2 = await endpoint(other.url, ['*']);
      rx.box.secret = ep.secret;
      other.box.secret = ep2.secret;
      const t = await h.api('POST', `/webhooks/${ep.id}/test`);
      expect(t.status).toBe(202);
      expect(t.json).toMatchObject({ webhook_id: ep.id, event_type: 'webhook.test', status: 'pending' });
      const d = dispatcher();
      await d.runOnce();
      expect(rx.received.map((r) => r.event.type)).toEqual(['webhook.test']);
      expect(rx.received[0]!.verified).toBe(true);
      expect(rx.received[0]!.event.data.object.id).toBe(ep.id);
      // ep2 (subscribed to everything) saw its own creation, nothing of ep's test.
      expect(other.received.map((r) => r.event.type)).toEqual(['webhook.created']);

      // Deactivated: pending deliveries wait, events meanwhile are not queued, a test is refused.
      await h.api('PATCH', `/webhooks/${ep2.id}`, { body: { active: false } });
      await setEmail('queued@acme.test');
      expect((await h.api('PATCH', `/webhooks/${ep.id}`, { body: { active: false } })).status).toBe(200);
      expect((await h.api('POST', `/webhooks/${ep.id}/test`)).status).toBe(409);
      await setEmail('while-inactive@acme.test');
      expect(await d.runOnce()).toBe(0);
      expect(rx.received).toHaveLength(1);
      expect((await h.api('PATCH', `/webhooks/${ep.id}`, { body: { active: true } })).status).toBe(200);
      await d.runOnce();
      expect(rx.received.map((r) => r.event.type)).toEqual(['webhook.test', 'account.updated']);
      expect(rx.received[1]!.event.data.object.email).toBe('queued@acme.test');
    });
  });
}
