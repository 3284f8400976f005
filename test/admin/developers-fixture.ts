/**
 * The developer-side admin API suites' world: a real store (SQLite file or PostgreSQL schema) seeded by
 * applyConfig with two tenants, a MemoryAuthView kept live by commitChange, an adjustable clock, and the
 * admin server on port 0.
 */
import { request } from 'undici';
import { syncAuthView } from '../../src/admin/projection.js';
import { buildAdminServer } from '../../src/admin/server.js';
import { applyConfig } from '../../src/config/apply.js';
import { createLogger } from '../../src/obs/logger.js';
import { createRegistry } from '../../src/obs/metrics.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { SqlErrorLog } from '../../src/store/sql/error-log.js';
import type { SqlCase } from '../config/sql-cases.js';

export const seed = {
  version: 1,
  tenants: [
    {
      name: 'alpha',
      provider_key: 'alpha-provider-key',
      admin_tokens: [{ name: 'ci', value: 'alpha-token' }],
      services: [
        {
          id: '7001',
          system_name: 'keys',
          metrics: [{ system_name: 'hits' }],
          plans: [
            { system_name: 'basic' },
            { system_name: 'pro' },
            { system_name: 'gated', approval_required: true },
          ],
        },
        {
          id: '7002',
          system_name: 'ids',
          auth: { mode: 'app_id' },
          metrics: [{ system_name: 'hits' }],
          plans: [{ system_name: 'basic' }],
        },
      ],
      accounts: [
        {
          name: 'seeded',
          applications: [
            { name: 'one', service: 'keys', plan: 'basic', user_key: 'seeded-key-1' },
            { name: 'two', service: 'ids', plan: 'basic', app_id: 'seededappid2', app_keys: ['k2'] },
          ],
        },
      ],
    },
    {
      name: 'beta',
      provider_key: 'beta-provider-key',
      admin_tokens: [{ name: 'ci', value: 'beta-token' }],
      services: [{ id: '8001', system_name: 'keys', metrics: [{ system_name: 'hits' }] }],
    },
  ],
};

export interface World {
  readonly store: SqlStore;
  readonly view: MemoryAuthView;
  /** The server's clock: tests move it forward. */
  readonly clock: { now: number };
  call(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
    // biome-ignore lint/suspicious/noExplicitAny: answers are JSON read field by field in assertions
  ): Promise<{ status: number; headers: Record<string, unknown>; body: any }>;
  close(): Promise<void>;
}

export async function openWorld(c: SqlCase): Promise<World> {
  const { store, dispose } = await c.open();
  await applyConfig(store.db, seed);
  const view = new MemoryAuthView();
  await syncAuthView(store.db, view);
  const clock = { now: Date.UTC(2026, 5, 1) };
  const app = await buildAdminServer({
    ctx: { db: store.db, errorLog: new SqlErrorLog(store.db), clock: () => clock.now, authView: view },
    registry: createRegistry(),
    ready: () => true,
    logger: createLogger('silent'),
    version: 'test',
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/admin/api`;
  return {
    store,
    view,
    clock,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      const res = await request(`${base}${path}`, {
        method: method as 'GET',
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, body: text === '' ? null : JSON.parse(text) };
    },
    async close() {
      await app.close();
      await dispose();
    },
  };
}

/** The audit rows of a tenant with `action`. */
export async function auditRows(w: World, action: string) {
  return w.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute();
}
