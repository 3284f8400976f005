// The declarative config through the admin API: export the token's tenant, apply it back (no change),
// apply a change (live in the auth view, audited), refuse another tenant's document and bad documents.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminServer } from '../../src/admin/server.js';
import { applyConfig } from '../../src/config/apply.js';
import { createLogger } from '../../src/obs/logger.js';
import { createRegistry } from '../../src/obs/metrics.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { SqlErrorLog } from '../../src/store/sql/error-log.js';

const tenant = (name: string) => ({
  name,
  provider_key: `${name}-pk`,
  admin_tokens: [{ name: 'ci', value: `${name}-token` }],
  services: [
    {
      id: name === 'alpha' ? '601' : '602',
      system_name: 'api',
      name: 'API',
      metrics: [{ system_name: 'hits' }],
      plans: [{ system_name: 'basic', name: 'Basic', limits: { hits: { day: 10 } } }],
    },
  ],
  accounts: [
    { name: 'Dev', applications: [{ name: 'App', service: 'api', plan: 'basic', user_key: `${name}-uk` }] },
  ],
});

describe('admin API: declarative config', () => {
  let sql: SqlStore;
  let base = '';
  let close: () => Promise<void>;
  const view = new MemoryAuthView();

  beforeAll(async () => {
    sql = await openSqlStore({ url: ':memory:' });
    await applyConfig(sql.db, { version: 1, tenants: [tenant('alpha'), tenant('beta')] });
    const app = await buildAdminServer({
      ctx: { db: sql.db, errorLog: new SqlErrorLog(sql.db), clock: Date.now, authView: view },
      registry: createRegistry(),
      ready: () => true,
      logger: createLogger('silent'),
      version: 'test',
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

  const headers = { authorization: 'Bearer alpha-token', 'content-type': 'application/json' };
  const put = (doc: unknown, q = '') =>
    fetch(`${base}/config${q}`, { method: 'PUT', headers, body: JSON.stringify(doc) });

  it("exports only the token's tenant, and the export applies back with no change", async () => {
    const res = await fetch(`${base}/config`, { headers });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { tenants: { name: string }[] };
    expect(doc.tenants.map((t) => t.name)).toEqual(['alpha']);
    const applied = await put(doc);
    expect(applied.status).toBe(200);
    expect(((await applied.json()) as { changes: unknown[] }).changes).toEqual([]);
  });

  it('applies a change (dry run first), live in the auth view and audited', async () => {
    const doc = { version: 1, tenants: [tenant('alpha')] };
    doc.tenants[0]!.services[0]!.plans[0]!.limits.hits.day = 99;
    const dry = (await (await put(doc, '?dry_run=true')).json()) as { changes: unknown[]; dry_run: boolean };
    expect(dry.dry_run).toBe(true);
    expect(dry.changes.length).toBeGreaterThan(0);
    const plansBefore = await sql.db.selectFrom('usage_limits').select('max_value').execute();
    expect(plansBefore.map((p) => Number(p.max_value)).sort()).toEqual([10, 10]);

    const res = await put(doc);
    expect(res.status).toBe(200);
    const svc = await view.service('601');
    expect(svc).not.toBeNull();
    const app = await view.application('601', (await view.appIdByUserKey('601', 'alpha-uk'))!);
    const plan = await view.plan('601', app!.planId);
    expect(plan?.limits.map((l) => l.max)).toEqual([99]);
    const audit = await sql.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'config.applied')
      .execute();
    expect(audit).toHaveLength(1);
  });

  it('refuses a document naming another tenant (403) and a bad one (400 with paths), applying nothing', async () => {
    const other = await put({ version: 1, tenants: [tenant('beta')] });
    expect(other.status).toBe(403);
    const doc = { version: 1, tenants: [tenant('alpha')] } as {
      version: number;
      tenants: Record<string, unknown>[];
    };
    (doc.tenants[0]!.services as Record<string, unknown>[])[0]!.colour = 'blue';
    const bad = await put(doc);
    expect(bad.status).toBe(400);
    const p = (await bad.json()) as { code: string; errors: { path: string; message: string }[] };
    expect(p.code).toBe('invalid_request');
    expect(p.errors).toContainEqual({ path: 'tenants[0].services[0].colour', message: 'unknown field' });
  });
});
