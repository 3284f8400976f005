/** A seeded backend over real adapters on a real port: the tenant snapshot, deps with a fake clock, helpers. */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BackendDeps } from '../../../src/backend/deps.js';
import { type BackendHandler, backendClientError, createBackendHandler } from '../../../src/backend/http.js';
import type {
  AppView,
  PlanView,
  ServiceView,
  TenantSnapshot,
  UsageLimit,
} from '../../../src/domain/model.js';
import { MemoryAuthView } from '../../../src/store/authview/memory.js';
import { MemoryCounterStore } from '../../../src/store/counters/memory.js';
import { sha256 } from '../../../src/store/digest.js';
import type { CounterStore } from '../../../src/store/ports.js';
import { MemoryUsageLog } from '../../../src/store/usagelog/memory.js';
import { TestErrorLog } from './memory-error-log.js';

export const XML = 'application/vnd.3scale-v2.0+xml';
export const PROLOG = '<?xml version="1.0" encoding="UTF-8"?>';
/** 2010-05-15 13:45:30 UTC (a Saturday). */
export const T0 = Date.UTC(2010, 4, 15, 13, 45, 30);

const METRICS = [
  { id: 'm-hits', systemName: 'hits', parentId: null },
  { id: 'm-list', systemName: 'list', parentId: 'm-hits' },
  { id: 'm-get', systemName: 'get', parentId: 'm-hits' },
  { id: 'm-detail', systemName: 'get_detail', parentId: 'm-get' },
  { id: 'm-bytes', systemName: 'bytes', parentId: null },
];

const PLAN_DEFS: { id: string; name: string; limits: UsageLimit[] }[] = [
  {
    id: 'p-basic',
    name: 'Basic & <Co>',
    limits: [
      { metricId: 'm-hits', period: 'day', max: 100 },
      { metricId: 'm-hits', period: 'eternity', max: 1000 },
      { metricId: 'm-get', period: 'minute', max: 5 },
      { metricId: 'm-detail', period: 'hour', max: 3 },
      { metricId: 'm-list', period: 'month', max: 0 },
      { metricId: 'm-gone', period: 'day', max: 7 },
    ],
  },
  { id: 'p-none', name: '', limits: [] },
  { id: 'p-minute', name: 'Minute', limits: [{ metricId: 'm-hits', period: 'minute', max: 100 }] },
  { id: 'p-hour10', name: 'Hour', limits: [{ metricId: 'm-hits', period: 'hour', max: 10 }] },
  { id: 'p-day100', name: 'Day', limits: [{ metricId: 'm-hits', period: 'day', max: 100 }] },
  {
    id: 'p-week',
    name: 'Weekly',
    limits: [
      { metricId: 'm-hits', period: 'week', max: 50 },
      { metricId: 'm-hits', period: 'year', max: 500 },
      { metricId: 'm-bytes', period: 'eternity', max: 20 },
    ],
  },
];

function service(id: string, tenantId: string, pk: string, extra: Partial<ServiceView> = {}): ServiceView {
  return {
    id,
    tenantId,
    providerKey: pk,
    state: 'active',
    authMode: 'app_id',
    referrerFiltersRequired: false,
    authorization: { mode: 'strict', onStoreFailure: 'deny' },
    metrics: METRICS,
    ...extra,
  };
}

function plans(serviceId: string): PlanView[] {
  return PLAN_DEFS.map((p) => ({ ...p, serviceId }));
}

function app(serviceId: string, id: string, planId: string, extra: Partial<AppView> = {}): AppView {
  const plan = PLAN_DEFS.find((p) => p.id === planId)!;
  return {
    id,
    serviceId,
    state: 'active',
    planId,
    planName: plan.name,
    userKey: null,
    appKeys: [],
    referrerFilters: [],
    redirectUrl: null,
    ...extra,
  };
}

/** Tenant `acme` (provider key pk1, default service svc-ak) with services in every mode. */
export function acmeSnapshot(): TenantSnapshot {
  const t = 't-acme';
  const pk = 'pk1';
  return {
    tenant: { id: t, name: 'acme', providerKey: pk, defaultServiceId: 'svc-ak' },
    services: [
      service('svc-ak', t, pk, { referrerFiltersRequired: true }),
      service('svc-uk', t, pk, { authMode: 'user_key' }),
      service('svc-oidc', t, pk, { authMode: 'oidc' }),
      service('svc-susp', t, pk, { state: 'suspended' }),
    ],
    serviceTokens: [
      { tokenDigest: sha256('tok-ak'), serviceId: 'svc-ak' },
      { tokenDigest: sha256('tok-uk'), serviceId: 'svc-uk' },
    ],
    plans: [...plans('svc-ak'), ...plans('svc-uk'), ...plans('svc-oidc'), ...plans('svc-susp')],
    apps: [
      app('svc-ak', 'app1', 'p-basic', {
        appKeys: ['k1', 'k"2'],
        referrerFilters: ['*.example.com', 'exact.org'],
        redirectUrl: 'https://app.example.com/cb?a=1&b=2',
      }),
      app('svc-ak', 'app-nokeys', 'p-none'),
      app('svc-ak', 'app-week', 'p-week'),
      app('svc-ak', 'app-pending', 'p-basic', { state: 'pending' }),
      app('svc-uk', 'uk-app', 'p-basic', { userKey: 'uk1', appKeys: ['ignored'] }),
      app('svc-uk', 'uk-min', 'p-minute', { userKey: 'ukmin' }),
      app('svc-uk', 'uk-hour', 'p-hour10', { userKey: 'ukhour' }),
      app('svc-uk', 'uk-day', 'p-day100', { userKey: 'ukday' }),
      app('svc-oidc', 'oidc-app', 'p-basic', {
        appKeys: ['sec', 'sec2'],
        redirectUrl: 'https://cb.example/x',
      }),
      app('svc-oidc', 'oidc-nokeys', 'p-none'),
      app('svc-susp', 'susp-app', 'p-basic'),
    ],
  };
}

/** Tenant `beta` (pk2) has no default service; tenant `gamma` (pk3) has one. */
export function otherSnapshots(): TenantSnapshot[] {
  return [
    {
      tenant: { id: 't-beta', name: 'beta', providerKey: 'pk2', defaultServiceId: null },
      services: [service('svc-beta', 't-beta', 'pk2')],
      serviceTokens: [],
      plans: plans('svc-beta'),
      apps: [app('svc-beta', 'beta-app', 'p-none')],
    },
    {
      tenant: { id: 't-gamma', name: 'gamma', providerKey: 'pk3', defaultServiceId: 'svc-gamma' },
      services: [service('svc-gamma', 't-gamma', 'pk3')],
      serviceTokens: [],
      plans: plans('svc-gamma'),
      apps: [app('svc-gamma', 'gamma-app', 'p-none')],
    },
  ];
}

export interface Harness {
  readonly url: string;
  readonly deps: BackendDeps;
  readonly handler: BackendHandler;
  readonly errorLog: TestErrorLog;
  readonly usageLog: MemoryUsageLog;
  readonly counters: MemoryCounterStore;
  /** Sets the fake clock (epoch ms). */
  setNow(t: number): void;
  close(): Promise<void>;
}

/** Starts a seeded backend on port 0. `counters` replaces the store (e.g. a failing one). */
export async function startHarness(opts: { counters?: CounterStore; now?: number } = {}): Promise<Harness> {
  let now = opts.now ?? T0;
  const clock = () => now;
  const view = new MemoryAuthView();
  await view.syncTenant(acmeSnapshot());
  for (const s of otherSnapshots()) await view.syncTenant(s);
  const memCounters = await MemoryCounterStore.open({ clock });
  const usageLog = new MemoryUsageLog(undefined, { clock });
  const errorLog = new TestErrorLog();
  const deps: BackendDeps = {
    authView: view,
    counters: opts.counters ?? memCounters,
    usageLog,
    errorLog,
    clock,
    version: '3.4.3-test',
  };
  const handler = createBackendHandler(deps, { recorders: { flushMs: 5 } });
  const server = http.createServer(handler);
  server.on('clientError', backendClientError);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    deps,
    handler,
    errorLog,
    usageLog,
    counters: memCounters,
    setNow(t) {
      now = t;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await handler.close();
      await memCounters.close();
      await usageLog.close();
    },
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A request over node:http with the path sent as given (no client-side normalization). */
export function request(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/** GET with a query string built from pairs (values encoded; keys written as given). */
export function get(h: Harness, path: string, headers?: Record<string, string>): Promise<RawResponse> {
  return request(h.url, 'GET', path, headers ? { headers } : {});
}

/** POSTs a form body to /transactions.xml. */
export function postReport(
  h: Harness,
  body: string,
  contentType = 'application/x-www-form-urlencoded',
): Promise<RawResponse> {
  return request(h.url, 'POST', '/transactions.xml', {
    body,
    headers: contentType === '' ? {} : { 'content-type': contentType },
  });
}

/** The error body for `code` and `message`. */
export function errorBody(code: string, message: string): string {
  return `${PROLOG}<error code="${code}">${message}</error>`;
}
