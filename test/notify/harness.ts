/**
 * Test harness of the webhook suites: the real admin server (with the outbox hook registered) over a
 * real SQL store, and a real local receiver (node:http on port 0) that checks each signature itself.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import type { AdminRoute } from '../../src/admin/route.js';
import { ADMIN_ROUTES } from '../../src/admin/routes/index.js';
import { buildAdminServer } from '../../src/admin/server.js';
import { applyConfig } from '../../src/config/apply.js';
import {
  WebhookDispatcher,
  type WebhookDispatcherOptions,
  webhookOutboxHook,
} from '../../src/notify/index.js';
import { createLogger } from '../../src/obs/logger.js';
import { createRegistry } from '../../src/obs/metrics.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { SqlErrorLog } from '../../src/store/sql/error-log.js';
import type { SqlCase } from '../config/sql-cases.js';

export const seedDoc = {
  version: 1,
  tenants: ['alpha', 'beta'].map((name) => ({
    name,
    provider_key: `${name}-pk`,
    admin_tokens: [
      { name: 'ci', value: `${name}-token` },
      { name: 'ro', value: `${name}-readonly`, read_only: true },
      { name: 'stats', value: `${name}-analytics`, scopes: ['analytics' as const] },
    ],
    services: [{ system_name: 'api', name: 'API', metrics: [{ system_name: 'hits' }] }],
    accounts: [{ name: 'acme', email: 'ops@acme.test' }],
  })),
};

export interface ApiAnswer {
  status: number;
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected field by field
  json: any;
}

export interface Harness {
  readonly store: SqlStore;
  readonly base: string;
  api(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiAnswer>;
  dispatcher(opts?: Partial<WebhookDispatcherOptions>): WebhookDispatcher;
  close(): Promise<void>;
}

/** Fast retries for tests: no jitter, a few milliseconds between attempts. */
export const FAST: Partial<WebhookDispatcherOptions> = {
  backoffMs: [5, 10],
  jitter: 0,
  pollIntervalMs: 10,
  timeoutMs: 2000,
};

export async function startHarness(
  sqlCase: SqlCase,
  extraRoutes: readonly AdminRoute[] = [],
): Promise<Harness> {
  const { store, dispose } = await sqlCase.open();
  await applyConfig(store.db, seedDoc);
  const app = await buildAdminServer({
    ctx: {
      db: store.db,
      errorLog: new SqlErrorLog(store.db),
      clock: Date.now,
      changeHooks: [webhookOutboxHook],
    },
    routes: [...ADMIN_ROUTES, ...extraRoutes],
    registry: createRegistry(),
    ready: () => true,
    logger: createLogger('silent'),
    version: 'test',
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/admin/api`;
  const dispatchers: WebhookDispatcher[] = [];
  return {
    store,
    base,
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token !== '') headers.authorization = `Bearer ${opts.token ?? 'alpha-token'}`;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      const res = await request(`${base}${path}`, {
        method: method as 'GET',
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
      const text = await res.body.text();
      let json: unknown = null;
      try {
        json = text === '' ? null : JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: res.statusCode, headers: res.headers, text, json };
    },
    dispatcher(opts = {}) {
      const d = new WebhookDispatcher({ db: store.db, logger: createLogger('silent'), ...FAST, ...opts });
      dispatchers.push(d);
      return d;
    },
    async close() {
      for (const d of dispatchers) await d.stop();
      await app.close();
      await dispose();
    },
  };
}

export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The signature checked here, independently of the code under test (as docs/webhooks.md shows). */
  readonly verified: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: the event is inspected field by field
  readonly event: any;
}

/** A webhook receiver on port 0. `answer(n)` gives the status of the n-th request (1-based). */
export async function startReceiver(secret: () => string, answer: (n: number) => number = () => 200) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = String(req.headers['tollgate-signature'] ?? '');
      const t = /(?:^|,)t=(\d+)/.exec(header)?.[1] ?? '';
      const v1 = /(?:^|,)v1=([0-9a-f]+)/.exec(header)?.[1] ?? '';
      const expected = createHmac('sha256', secret()).update(`${t}.${body}`).digest('hex');
      const verified =
        v1.length === expected.length &&
        timingSafeEqual(Buffer.from(v1), Buffer.from(expected)) &&
        Math.abs(Date.now() / 1000 - Number(t)) < 300;
      received.push({ headers: req.headers, body, verified, event: JSON.parse(body) });
      const status = answer(received.length);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 300 ? `nope ${received.length} ${'x'.repeat(5000)}` : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Waits until `cond` holds (polling); fails with `what` after a generous deadline. */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
