/** A catalog test bed: an admin server over a real SQL store (SQLite file or PostgreSQL schema) on port 0. */
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
  tenants: ['alpha', 'beta'].map((name, i) => ({
    name,
    provider_key: `${name}-pk`,
    admin_tokens: [
      { name: 'ci', value: `${name}-token` },
      { name: 'ro', value: `${name}-readonly`, read_only: true },
    ],
    services: [
      {
        id: String(7000 + i),
        system_name: 'api',
        name: 'API',
        metrics: [{ system_name: 'hits' }, { system_name: 'list', parent: 'hits' }],
        mapping_rules: [{ method: 'GET', pattern: '/items', metric: 'list' }],
        plans: [{ system_name: 'basic', limits: { hits: { day: 100 } } }],
      },
    ],
    accounts: [
      { name: 'Dev', applications: [{ name: 'App', service: 'api', plan: 'basic', user_key: `${name}-uk` }] },
    ],
  })),
};

export interface Bed {
  store: SqlStore;
  view: MemoryAuthView;
  call: (
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
    // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field and checked by the assertions
  ) => Promise<{ status: number; headers: Record<string, unknown>; json: any }>;
  close: () => Promise<void>;
}

export async function openBed(c: SqlCase): Promise<Bed> {
  const { store, dispose } = await c.open();
  await applyConfig(store.db, seed);
  const view = new MemoryAuthView();
  await syncAuthView(store.db, view);
  const app = await buildAdminServer({
    ctx: { db: store.db, errorLog: new SqlErrorLog(store.db), clock: Date.now, authView: view },
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
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${opts.token ?? 'alpha-token'}`,
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      };
      const res = await request(`${base}${path}`, {
        method: method as 'GET',
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, json: text === '' ? null : JSON.parse(text) };
    },
    async close() {
      await app.close();
      await dispose();
    },
  };
}
