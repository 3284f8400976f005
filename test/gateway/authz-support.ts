/** A gateway-side authorization fixture: one tenant, a user_key service, limits, and authorizer sets over real stores. */
import type { BackendDeps } from '../../src/backend/deps.js';
import { emptyParams } from '../../src/backend/params.js';
import { counterKey } from '../../src/domain/counters.js';
import type { Period, TenantSnapshot } from '../../src/domain/model.js';
import { windowStart } from '../../src/domain/periods.js';
import {
  type AuthorizerOptions,
  type AuthorizerSet,
  createAuthorizers,
} from '../../src/gateway/authz/index.js';
import type { AuthCall, Verdict } from '../../src/gateway/authz/types.js';
import type { GatewayService } from '../../src/gateway/service.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import type { AuthView, CounterStore } from '../../src/store/ports.js';
import type { ServiceAuthorization } from '../../src/store/sql/repo/records.js';
import { MemoryUsageLog } from '../../src/store/usagelog/memory.js';
import { TestErrorLog } from '../backend/support/memory-error-log.js';

export const SID = 'svc-gw';

/** Apps `a1`…`a9` (user keys `k1`…`k9`) on a plan limiting hits to `max` per `period`. */
export function gwSnapshot(max: number, period: Period = 'eternity'): TenantSnapshot {
  const t = 't-gw';
  const apps = Array.from({ length: 9 }, (_, i) => ({
    id: `a${i + 1}`,
    serviceId: SID,
    state: 'active' as const,
    planId: 'p',
    planName: 'P',
    userKey: `k${i + 1}`,
    appKeys: [],
    referrerFilters: [],
    redirectUrl: null,
  }));
  return {
    tenant: { id: t, name: 'gw', providerKey: 'pk-gw', defaultServiceId: SID },
    services: [
      {
        id: SID,
        tenantId: t,
        providerKey: 'pk-gw',
        state: 'active',
        authMode: 'user_key',
        referrerFiltersRequired: false,
        authorization: { mode: 'strict', onStoreFailure: 'deny' },
        metrics: [
          { id: 'm-hits', systemName: 'hits', parentId: null },
          { id: 'm-list', systemName: 'list', parentId: 'm-hits' },
        ],
      },
    ],
    serviceTokens: [],
    plans: [{ id: 'p', serviceId: SID, name: 'P', limits: [{ metricId: 'm-hits', period, max }] }],
    apps,
  };
}

export async function memoryView(snapshot: TenantSnapshot): Promise<MemoryAuthView> {
  const v = new MemoryAuthView();
  await v.syncTenant(snapshot);
  return v;
}

export function depsOf(authView: AuthView, counters: CounterStore): BackendDeps {
  return {
    authView,
    counters,
    usageLog: new MemoryUsageLog(),
    errorLog: new TestErrorLog(),
    clock: Date.now,
    version: 'test',
  };
}

/** A gateway service as the runtime hands it to the authorizers (only the fields they read). */
export function gwService(
  authorization: Partial<ServiceAuthorization>,
  rateLimitHeaders = false,
): GatewayService {
  return {
    id: SID,
    providerKey: 'pk-gw',
    backend: null,
    rateLimitHeaders,
    authorization: { mode: 'strict', on_store_failure: 'deny', ...authorization },
  } as unknown as GatewayService;
}

export function callOf(svc: GatewayService, userKey: string, metric = 'list', delta = 1): AuthCall {
  const usage = emptyParams();
  usage[metric] = String(delta);
  return { svc, creds: { kind: 'user_key', userKey }, usage };
}

/** The hits counter key of app `appId` in `period`'s current window. */
export function hitsKey(appId: string, period: Period = 'eternity'): string {
  return counterKey(SID, appId, 'm-hits', period, windowStart(period, Date.now()));
}

export function gateways(n: number, opts: (i: number) => AuthorizerOptions): AuthorizerSet[] {
  return Array.from({ length: n }, (_, i) => createAuthorizers(opts(i)));
}

/** Runs `n` decisions spread round-robin over `sets`, all at once; answers the verdicts. */
export async function burst(sets: AuthorizerSet[], n: number, call: AuthCall): Promise<Verdict[]> {
  const out: (Verdict | Promise<Verdict>)[] = [];
  for (let i = 0; i < n; i++) out.push(sets[i % sets.length]!.decide(call));
  return Promise.all(out);
}

export const allowed = (vs: readonly Verdict[]): number => vs.filter((v) => v.ok).length;
