// The shared security suite: every admin API route is called without a token, with a bad, an expired, a
// wrong-scope and a read-only token, with a token of the wrong audience, and (routes with ids in their
// path) with another tenant's ids — and must refuse each, the same way, on SQLite and PostgreSQL.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminRoute, JsonSchema } from '../../src/admin/route.js';
import { ADMIN_ROUTES } from '../../src/admin/routes/index.js';
import { buildAdminServer } from '../../src/admin/server.js';
import { applyConfig } from '../../src/config/apply.js';
import { createLogger } from '../../src/obs/logger.js';
import { createRegistry } from '../../src/obs/metrics.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import { sha256 } from '../../src/store/digest.js';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { SqlErrorLog } from '../../src/store/sql/error-log.js';
import type { DB } from '../../src/store/sql/schema.js';
import { hasPostgres, PG_URL, uniqueName } from '../support/services.js';

const tenant = (name: string, serviceId: string) => ({
  name,
  provider_key: `${name}-pk`,
  admin_tokens: [{ name: 'full', value: `${name}-full` }],
  services: [
    {
      id: serviceId,
      system_name: 'api',
      name: 'API',
      service_token: `${name}-st`,
      metrics: [{ system_name: 'hits' }, { system_name: 'search', parent: 'hits' }],
      mapping_rules: [{ method: 'GET', pattern: '/search', metric: 'search', delta: 1 }],
      plans: [
        {
          system_name: 'basic',
          name: 'Basic',
          limits: { hits: { day: 100 } },
          pricing: { rules: [{ metric: 'hits', from: 1, price_per_unit: '0.01' }] },
        },
      ],
    },
  ],
  accounts: [
    {
      name: 'Dev',
      email: `dev@${name}.example.com`,
      applications: [{ name: 'App', service: 'api', plan: 'basic', user_key: `${name}-uk` }],
    },
  ],
});

const DOC = { version: 1, tenants: [tenant('alpha', '8101'), tenant('beta', '8102')] };

/** Extra tokens of alpha, inserted as the admin API would store them (hashed). */
async function insertTokens(db: Kysely<DB>, alphaId: string): Promise<void> {
  const now = Date.now();
  const rows = [
    {
      name: 'expired',
      tenant_id: alphaId,
      scopes: ['management', 'analytics', 'billing'],
      read_only: 0,
      expires_at: now - 1000,
    },
    { name: 'billing', tenant_id: alphaId, scopes: ['billing'], read_only: 0, expires_at: null },
    { name: 'analytics', tenant_id: alphaId, scopes: ['analytics'], read_only: 0, expires_at: null },
    {
      name: 'readonly',
      tenant_id: alphaId,
      scopes: ['management', 'analytics', 'billing'],
      read_only: 1,
      expires_at: null,
    },
    {
      name: 'platform',
      tenant_id: null,
      scopes: ['management', 'analytics', 'billing'],
      read_only: 0,
      expires_at: null,
    },
  ];
  for (const r of rows) {
    await db
      .insertInto('admin_tokens')
      .values({
        id: `tok-${r.name}`,
        tenant_id: r.tenant_id,
        name: r.name,
        token_hash: sha256(`alpha-${r.name}`),
        scopes: JSON.stringify(r.scopes),
        read_only: r.read_only,
        expires_at: r.expires_at,
        position: 100,
        created_at: now,
      })
      .execute();
  }
}

/** Beta's ids by path parameter name: calling alpha's routes with them must answer 404. */
async function betaIds(db: Kysely<DB>, betaId: string): Promise<Record<string, string>> {
  const svc = await db
    .selectFrom('services')
    .select('id')
    .where('tenant_id', '=', betaId)
    .executeTakeFirstOrThrow();
  const one = async (q: Promise<{ id: string } | undefined>) =>
    (await q)?.id ?? `missing-${randomBytes(3).toString('hex')}`;
  const plan = await one(
    db.selectFrom('plans').select('id').where('service_id', '=', svc.id).executeTakeFirst(),
  );
  const app = await one(
    db.selectFrom('applications').select('id').where('tenant_id', '=', betaId).executeTakeFirst(),
  );
  return {
    service_id: svc.id,
    metric_id: await one(
      db.selectFrom('metrics').select('id').where('service_id', '=', svc.id).executeTakeFirst(),
    ),
    mapping_rule_id: await one(
      db.selectFrom('mapping_rules').select('id').where('service_id', '=', svc.id).executeTakeFirst(),
    ),
    plan_id: plan,
    pricing_rule_id: await one(
      db.selectFrom('pricing_rules').select('id').where('plan_id', '=', plan).executeTakeFirst(),
    ),
    account_id: await one(
      db.selectFrom('accounts').select('id').where('tenant_id', '=', betaId).executeTakeFirst(),
    ),
    application_id: app,
    token_id: await one(
      db.selectFrom('admin_tokens').select('id').where('tenant_id', '=', betaId).executeTakeFirst(),
    ),
  };
}

/** A value that satisfies a JSON schema (used when a route gives no example body). */
function sample(schema: JsonSchema | undefined): unknown {
  if (!schema) return undefined;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.oneOf)) return sample(schema.oneOf[0] as JsonSchema);
  if (Array.isArray(schema.anyOf)) return sample(schema.anyOf[0] as JsonSchema);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      for (const k of (schema.required ?? []) as string[]) out[k] = sample(props[k]);
      return out;
    }
    case 'array':
      return Array.from({ length: Number(schema.minItems ?? 0) }, () => sample(schema.items as JsonSchema));
    case 'integer':
    case 'number':
      return Number(schema.minimum ?? 1);
    case 'boolean':
      return false;
    case 'null':
      return null;
    default: {
      if (schema.format === 'uri') return 'https://example.com/x';
      if (schema.format === 'email') return 'x@example.com';
      if (schema.format === 'date-time') return new Date().toISOString();
      return 'x'.repeat(Math.max(Number(schema.minLength ?? 1), 1));
    }
  }
}

const fill = (route: AdminRoute, ids: Record<string, string>) =>
  `/admin/api${route.path.replace(/:([A-Za-z_]+)/g, (_, name: string) => encodeURIComponent(ids[name] ?? 'none'))}`;

function suite(name: string, open: () => Promise<{ sql: SqlStore; drop: () => Promise<void> }>) {
  describe(`admin API security (${name})`, () => {
    let base = '';
    let ids: Record<string, string> = {};
    let cleanup: () => Promise<void> = async () => {};

    beforeAll(async () => {
      const { sql, drop } = await open();
      await applyConfig(sql.db, DOC);
      const tenants = await sql.db.selectFrom('tenants').select(['id', 'name']).execute();
      const id = (n: string) => tenants.find((t) => t.name === n)!.id;
      await insertTokens(sql.db, id('alpha'));
      ids = await betaIds(sql.db, id('beta'));
      const app = await buildAdminServer({
        ctx: {
          db: sql.db,
          errorLog: new SqlErrorLog(sql.db),
          clock: Date.now,
          authView: new MemoryAuthView(),
        },
        registry: createRegistry(),
        ready: () => true,
        logger: createLogger('silent'),
        version: 'test',
        rateLimitPerMinute: 1_000_000,
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const addr = app.server.address();
      base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      cleanup = async () => {
        await app.close();
        await sql.close();
        await drop();
      };
    });
    afterAll(() => cleanup());

    async function send(route: AdminRoute, token: string | null, path = fill(route, ids)) {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (route.body) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(route.example?.body ?? sample(route.body));
      }
      const res = await fetch(`${base}${path}`, { method: route.method, headers, body });
      const text = await res.text();
      const code = text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined;
      return { status: res.status, code, type: res.headers.get('content-type') ?? '' };
    }

    for (const route of ADMIN_ROUTES) {
      const label = `${route.method} ${route.path}`;
      const platform = route.audience === 'platform';
      const rightToken = platform ? 'alpha-platform' : 'alpha-full';

      it(`${label}: no token, a bad token and an expired token are 401`, async () => {
        for (const [token, code] of [
          [null, 'unauthorized'],
          ['not-a-token', 'unauthorized'],
          ['alpha-expired', 'token_expired'],
        ] as const) {
          const r = await send(route, token);
          expect(r.status, `${label} with ${token}`).toBe(401);
          expect(r.code).toBe(code);
          expect(r.type).toContain('application/problem+json');
        }
      });

      it(`${label}: a token without the scope, or of the other audience, is 403`, async () => {
        const wrongScope = route.scope === 'billing' ? 'alpha-analytics' : 'alpha-billing';
        const r1 = await send(route, wrongScope);
        expect(r1.status, label).toBe(403);
        const r2 = await send(route, platform ? 'alpha-full' : 'alpha-platform');
        expect(r2.status, label).toBe(403);
      });

      if (route.write) {
        it(`${label}: a read-only token is 403`, async () => {
          const r = await send(route, 'alpha-readonly');
          expect(r.status, label).toBe(403);
          expect(r.code).toBe('forbidden');
        });
      }

      if (!platform && route.path.includes(':')) {
        it(`${label}: another tenant's ids are 404`, async () => {
          const r = await send(route, rightToken);
          expect(r.status, `${label} → ${r.code}`).toBe(404);
          expect(r.code).toBe('not_found');
        });
      }
    }
  });
}

suite('SQLite', async () => ({ sql: await openSqlStore({ url: ':memory:' }), drop: async () => {} }));

if (hasPostgres) {
  suite('PostgreSQL', async () => {
    const schema = uniqueName('sec');
    const sql = await openSqlStore({ url: PG_URL, schema });
    return {
      sql,
      drop: async () => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      },
    };
  });
}
