// The admin kernel over real HTTP with a small route list of its own: commitChange (audit row, config
// version, live auth view), ETag + If-Match, cursor pages, Idempotency-Key, the per-token rate limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/admin/auth.js';
import { commitChange } from '../../src/admin/change.js';
import {
  checkIfMatch,
  decodeCursor,
  PAGE_QUERY,
  page,
  pageSchema,
  withEtag,
} from '../../src/admin/http-conventions.js';
import type { AdminRoute } from '../../src/admin/route.js';
import { buildAdminServer } from '../../src/admin/server.js';
import { applyConfig } from '../../src/config/apply.js';
import { createLogger } from '../../src/obs/logger.js';
import { createRegistry } from '../../src/obs/metrics.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { SqlErrorLog } from '../../src/store/sql/error-log.js';

const doc = {
  version: 1,
  tenants: [
    {
      name: 'alpha',
      provider_key: 'alpha-pk',
      admin_tokens: [{ name: 'ci', value: 'alpha-token' }],
      services: [
        { id: '501', system_name: 'a', name: 'A', metrics: [{ system_name: 'hits' }] },
        { id: '502', system_name: 'b', name: 'B', metrics: [{ system_name: 'hits' }] },
        { id: '503', system_name: 'c', name: 'C', metrics: [{ system_name: 'hits' }] },
      ],
    },
  ],
};

const serviceRepr = (s: { id: string; name: string; state: string }) => ({
  id: s.id,
  name: s.name,
  state: s.state,
});

function routes(): AdminRoute[] {
  const params = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] };
  const load = async (ctx: Parameters<AdminRoute['handler']>[0], p: Principal, id: string) => {
    const row = await ctx.db
      .selectFrom('services')
      .select(['id', 'name', 'state'])
      .where('tenant_id', '=', p.tenantId!)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new Error('missing');
    return row;
  };
  return [
    {
      method: 'GET',
      path: '/t/services',
      operationId: 'tList',
      summary: 'list',
      tags: ['t'],
      scope: 'management',
      write: false,
      query: { type: 'object', properties: PAGE_QUERY, additionalProperties: false },
      response: { status: 200, schema: pageSchema({ type: 'object' }) },
      async handler(ctx, p, req) {
        const q = req.query as { limit: number; cursor?: string };
        const after = decodeCursor(q.cursor);
        let sel = ctx.db
          .selectFrom('services')
          .select(['id', 'name', 'state'])
          .where('tenant_id', '=', p.tenantId!)
          .orderBy('id')
          .limit(q.limit + 1);
        if (after !== null) sel = sel.where('id', '>', after);
        return page((await sel.execute()).map(serviceRepr), q.limit, (s) => s.id);
      },
    },
    {
      method: 'GET',
      path: '/t/services/:id',
      operationId: 'tGet',
      summary: 'get',
      tags: ['t'],
      scope: 'management',
      write: false,
      params,
      response: { status: 200, schema: { type: 'object' } },
      async handler(ctx, p, req, reply) {
        return withEtag(reply, serviceRepr(await load(ctx, p, (req.params as { id: string }).id)));
      },
    },
    {
      method: 'POST',
      path: '/t/services/:id/suspend',
      operationId: 'tSuspend',
      summary: 'suspend',
      tags: ['t'],
      scope: 'management',
      write: true,
      params,
      body: { type: 'object', properties: { note: { type: 'string' } }, additionalProperties: false },
      response: { status: 200, schema: { type: 'object' } },
      async handler(ctx, p, req, reply) {
        const id = (req.params as { id: string }).id;
        const before = serviceRepr(await load(ctx, p, id));
        checkIfMatch(req, before);
        const after = { ...before, state: 'suspended', calls: ++suspendCalls };
        await commitChange(ctx, req, p, p.tenantId, async (trx) => {
          await trx.updateTable('services').set({ state: 'suspended' }).where('id', '=', id).execute();
          return {
            changes: [{ action: 'service.suspended', objectType: 'service', objectId: id, before, after }],
            result: null,
          };
        });
        return withEtag(reply, after);
      },
    },
  ];
}
let suspendCalls = 0;

describe('admin kernel', () => {
  let sql: SqlStore;
  let base: string;
  let close: () => Promise<void>;
  const view = new MemoryAuthView();
  const auth = { authorization: 'Bearer alpha-token' };

  beforeAll(async () => {
    sql = await openSqlStore({ url: ':memory:' });
    await applyConfig(sql.db, doc);
    const app = await buildAdminServer({
      ctx: { db: sql.db, errorLog: new SqlErrorLog(sql.db), clock: Date.now, authView: view },
      registry: createRegistry(),
      ready: () => true,
      logger: createLogger('silent'),
      version: 'test',
      routes: routes(),
      rateLimitPerMinute: 40,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/admin/api`;
    close = async () => {
      await app.close();
      await sql.close();
    };
  });
  afterAll(() => close());

  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  const post = (path: string, headers: Record<string, string> = {}, body: unknown = {}) =>
    call(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('pages with opaque cursors and refuses a forged one', async () => {
    const first = (await (await call('/t/services?limit=2')).json()) as {
      items: { id: string }[];
      next_cursor: string;
    };
    expect(first.items.map((s) => s.id)).toEqual(['501', '502']);
    const second = (await (await call(`/t/services?limit=2&cursor=${first.next_cursor}`)).json()) as {
      items: { id: string }[];
      next_cursor: string | null;
    };
    expect(second.items.map((s) => s.id)).toEqual(['503']);
    expect(second.next_cursor).toBeNull();
    const bad = await call('/t/services?cursor=%%%');
    expect(bad.status).toBe(400);
  });

  it('commits a change with its audit row, a config version bump and a live auth view', async () => {
    const before = await sql.db.selectFrom('tenants').select('config_version').executeTakeFirstOrThrow();
    const res = await post('/t/services/501/suspend', { 'x-request-id': 'req-kernel-1' });
    expect(res.status).toBe(200);
    expect((await view.service('501'))?.state).toBe('suspended');
    const audit = await sql.db.selectFrom('audit_log').selectAll().where('object_id', '=', '501').execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'service.suspended',
      actor_type: 'token',
      request_id: 'req-kernel-1',
    });
    expect(JSON.parse(audit[0]!.before!)).toMatchObject({ state: 'active' });
    const after = await sql.db.selectFrom('tenants').select('config_version').executeTakeFirstOrThrow();
    expect(Number(after.config_version)).toBe(Number(before.config_version) + 1);
  });

  it('honours If-Match: the current ETag passes, a stale one is 412 and writes nothing', async () => {
    const got = await call('/t/services/502');
    const etag = got.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const stale = await post('/t/services/502/suspend', { 'if-match': '"stale"' });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { code: string }).code).toBe('precondition_failed');
    expect((await call('/t/services/502')).headers.get('etag')).toBe(etag);
    expect((await post('/t/services/502/suspend', { 'if-match': etag })).status).toBe(200);
    expect((await call('/t/services/502')).headers.get('etag')).not.toBe(etag);
  });

  it('replays a POST retried with the same Idempotency-Key and refuses the key for another request', async () => {
    const calls = suspendCalls;
    const first = await post('/t/services/503/suspend', { 'idempotency-key': 'k-1' }, { note: 'x' });
    const firstBody = await first.text();
    const again = await post('/t/services/503/suspend', { 'idempotency-key': 'k-1' }, { note: 'x' });
    expect(again.status).toBe(first.status);
    expect(await again.text()).toBe(firstBody);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(suspendCalls).toBe(calls + 1);
    const other = await post('/t/services/503/suspend', { 'idempotency-key': 'k-1' }, { note: 'y' });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { code: string }).code).toBe('idempotency_key_reused');
  });

  it('limits calls per token and minute with 429 and Retry-After', async () => {
    let last: Response | undefined;
    for (let i = 0; i < 45 && last?.status !== 429; i++) last = await call('/t/services/501');
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last?.headers.get('ratelimit-remaining')).toBe('0');
  });
});

describe('Idempotency-Key on an answer that shows a secret', () => {
  it('is refused on retry (409) and the secret is not kept in the replay store', async () => {
    const sql = await openSqlStore({ url: ':memory:' });
    await applyConfig(sql.db, doc);
    const app = await buildAdminServer({
      ctx: { db: sql.db, errorLog: new SqlErrorLog(sql.db), clock: Date.now },
      registry: createRegistry(),
      ready: () => true,
      logger: createLogger('silent'),
      version: 'test',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/admin/api/access_tokens`;
    try {
      const send = () =>
        fetch(url, {
          method: 'POST',
          headers: {
            authorization: 'Bearer alpha-token',
            'content-type': 'application/json',
            'idempotency-key': 'tok-1',
          },
          body: JSON.stringify({ name: 'deploy', scopes: ['management'] }),
        });
      const first = await send();
      expect(first.status).toBe(201);
      const { value } = (await first.json()) as { value: string };
      expect(value.length).toBeGreaterThan(10);
      const again = await send();
      expect(again.status).toBe(409);
      const stored = await sql.db.selectFrom('idempotency_keys').select(['status', 'body']).execute();
      expect(stored).toEqual([{ status: 201, body: '' }]);
      expect(
        await sql.db.selectFrom('admin_tokens').select('name').where('name', '=', 'deploy').execute(),
      ).toHaveLength(1);
    } finally {
      await app.close();
      await sql.close();
    }
  });
});

describe('Idempotency-Key left in progress by a dead process', () => {
  it('is taken over by a retry once abandoned, and answered normally', async () => {
    const sql = await openSqlStore({ url: ':memory:' });
    await applyConfig(sql.db, doc);
    let now = Date.now();
    const app = await buildAdminServer({
      ctx: { db: sql.db, errorLog: new SqlErrorLog(sql.db), clock: () => now },
      registry: createRegistry(),
      ready: () => true,
      logger: createLogger('silent'),
      version: 'test',
      routes: routes(),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/admin/api/t/services/501/suspend`;
    const send = () =>
      fetch(url, {
        method: 'POST',
        headers: {
          authorization: 'Bearer alpha-token',
          'content-type': 'application/json',
          'idempotency-key': 'k-dead',
        },
        body: '{}',
      });
    try {
      const tenant = await sql.db.selectFrom('admin_tokens').select('tenant_id').executeTakeFirstOrThrow();
      const token = await sql.db.selectFrom('admin_tokens').select('id').executeTakeFirstOrThrow();
      const { createHash } = await import('node:crypto');
      const hash = createHash('sha256')
        .update(`POST /admin/api/t/services/501/suspend\n`)
        .update('{}')
        .digest('hex');
      await sql.db
        .insertInto('idempotency_keys')
        .values({
          scope: `${tenant.tenant_id}:${token.id}`,
          key: 'k-dead',
          request_hash: hash,
          status: 0,
          body: '',
          created_at: now,
        })
        .execute();
      expect((await send()).status).toBe(409);
      now += 6 * 60_000;
      expect((await send()).status).toBe(200);
      const again = await send();
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    } finally {
      await app.close();
      await sql.close();
    }
  });
});
