// The admin API over real HTTP: bearer auth, tenant scope (another tenant's service is a 404),
// problem+json errors, and the integration-error log of a service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminServer } from '../../src/admin/server.js';
import { applyConfig } from '../../src/config/apply.js';
import { createLogger } from '../../src/obs/logger.js';
import { createRegistry } from '../../src/obs/metrics.js';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { SqlErrorLog } from '../../src/store/sql/error-log.js';
import { get } from '../integration/http.js';

const doc = {
  version: 1,
  tenants: ['alpha', 'beta'].map((name, i) => ({
    name,
    provider_key: `${name}-pk`,
    admin_tokens: [{ name: 'ci', value: `${name}-token` }],
    services: [{ id: String(9000 + i), system_name: 'api', name: 'API', metrics: [{ system_name: 'hits' }] }],
  })),
};

describe('admin API: service integration errors', () => {
  let sql: SqlStore;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    sql = await openSqlStore({ url: ':memory:' });
    await applyConfig(sql.db, doc);
    const errorLog = new SqlErrorLog(sql.db);
    await errorLog.add('9000', [
      { code: 'user_key_invalid', message: 'user key "x" is invalid', timestamp: Date.UTC(2026, 0, 1) },
      { code: 'metric_invalid', message: 'metric "m" is invalid', timestamp: Date.UTC(2026, 0, 2) },
    ]);
    const app = await buildAdminServer({
      ctx: { db: sql.db, errorLog, clock: Date.now },
      registry: createRegistry(),
      ready: () => true,
      logger: createLogger('silent'),
      version: 'test',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    close = async () => {
      await app.close();
      await sql.close();
    };
  });
  afterAll(() => close());

  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  it('lists errors newest first for the owning tenant', async () => {
    const r = await get(`${base}/admin/api/services/9000/errors`, auth('alpha-token'));
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { errors: { code: string; timestamp: string }[]; count: number };
    expect(body.count).toBe(2);
    expect(body.errors.map((e) => e.code)).toEqual(['metric_invalid', 'user_key_invalid']);
    expect(body.errors[0]!.timestamp).toBe('2026-01-02T00:00:00.000Z');
    expect(r.headers['x-request-id']).toBeTruthy();
  });

  it("answers 404 for another tenant's service, like a missing one", async () => {
    const other = await get(`${base}/admin/api/services/9000/errors`, auth('beta-token'));
    const missing = await get(`${base}/admin/api/services/nope/errors`, auth('beta-token'));
    for (const r of [other, missing]) {
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(JSON.parse(r.body).code).toBe('not_found');
    }
  });

  it('answers 401 without a token or with a bad one, before validating anything', async () => {
    for (const h of [{}, auth('wrong'), { authorization: 'Basic abc' }]) {
      const r = await get(`${base}/admin/api/services/9000/errors?per_page=9999`, h);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body).code).toBe('unauthorized');
    }
  });

  it('answers 400 problem+json with the failing parameter on bad query values', async () => {
    const r = await get(`${base}/admin/api/services/9000/errors?per_page=9999`, auth('alpha-token'));
    expect(r.status).toBe(400);
    const p = JSON.parse(r.body) as { code: string; errors: { path: string }[] };
    expect(p.code).toBe('invalid_request');
    expect(p.errors[0]!.path).toContain('per_page');
  });

  it('serves an OpenAPI 3.1 document naming the route', async () => {
    const r = await get(`${base}/admin/api/openapi.json`);
    const api = JSON.parse(r.body) as { openapi: string; paths: Record<string, unknown> };
    expect(api.openapi).toBe('3.1.0');
    expect(api.paths['/admin/api/services/{service_id}/errors']).toBeDefined();
  });
});
