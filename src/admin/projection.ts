/**
 * The projection of SQL into the auth view: each tenant's services, tokens, plans, limits and
 * applications as the TenantSnapshot the authorization core reads.
 */
import type { Kysely } from 'kysely';
import {
  type MetricDef,
  PERIODS,
  type Period,
  type TenantSnapshot,
  type UsageLimit,
} from '../domain/model.js';
import type { AuthView } from '../store/ports.js';
import { unapprovedAccountIds } from '../store/sql/repo/developers.js';
import { groupBy, loadTenantState, type TenantState } from '../store/sql/repo/state.js';
import type { DB } from '../store/sql/schema.js';

/** Builds the snapshot of one tenant from SQL, or null when the tenant does not exist. */
export async function projectTenant(db: Kysely<DB>, tenantId: string): Promise<TenantSnapshot | null> {
  const state = await loadTenantState(db, tenantId);
  return state ? snapshotOf(state, await unapprovedAccountIds(db, tenantId)) : null;
}

/**
 * The snapshot of a loaded tenant state (pure). Apps of the accounts in `heldAccounts` (pending or
 * suspended accounts) project as suspended: the backend refuses them as application_not_active.
 */
export function snapshotOf(s: TenantState, heldAccounts: ReadonlySet<string> = new Set()): TenantSnapshot {
  const metricsBy = groupBy(s.metrics, (m) => m.serviceId);
  const limitsBy = groupBy(s.usageLimits, (l) => l.planId);
  const planName = new Map(s.plans.map((p) => [p.id, p.name]));
  const defaultService = s.services.find((x) => x.isDefault) ?? s.services[0];
  return {
    tenant: {
      id: s.tenant.id,
      name: s.tenant.name,
      providerKey: s.tenant.providerKey,
      defaultServiceId: defaultService?.id ?? null,
    },
    services: s.services.map((svc) => ({
      id: svc.id,
      tenantId: s.tenant.id,
      providerKey: s.tenant.providerKey,
      state: svc.state,
      authMode: svc.auth.mode,
      referrerFiltersRequired: svc.referrerFiltersRequired,
      authorization: { mode: svc.authorization.mode, onStoreFailure: svc.authorization.on_store_failure },
      metrics: (metricsBy.get(svc.id) ?? []).map(
        (m): MetricDef => ({ id: m.id, systemName: m.systemName, parentId: m.parentId }),
      ),
      countedPeriods: countedPeriodsOf(s, svc.id),
    })),
    serviceTokens: s.serviceTokens.map((t) => ({ tokenDigest: t.tokenHash, serviceId: t.serviceId })),
    plans: s.plans.map((p) => ({
      id: p.id,
      serviceId: p.serviceId,
      name: p.name,
      limits: (limitsBy.get(p.id) ?? []).map(
        (l): UsageLimit => ({ metricId: l.metricId, period: l.period, max: l.maxValue }),
      ),
    })),
    apps: s.applications.map((a) => ({
      id: a.appId,
      serviceId: a.serviceId,
      state: heldAccounts.has(a.accountId) ? 'suspended' : a.state,
      planId: a.planId,
      planName: planName.get(a.planId) ?? '',
      userKey: a.userKey,
      appKeys: a.appKeys,
      referrerFilters: a.referrerFilters,
      redirectUrl: a.redirectUrl,
    })),
  };
}

/** The periods some plan of the service limits, per metric: the only counters worth writing. */
function countedPeriodsOf(s: TenantState, serviceId: string): Record<string, Period[]> {
  const plans = new Set(s.plans.filter((p) => p.serviceId === serviceId).map((p) => p.id));
  const out: Record<string, Period[]> = {};
  for (const l of s.usageLimits) {
    if (!plans.has(l.planId)) continue;
    const list = out[l.metricId] ?? [];
    if (!list.includes(l.period)) list.push(l.period);
    out[l.metricId] = list;
  }
  for (const list of Object.values(out)) list.sort((a, b) => PERIODS.indexOf(a) - PERIODS.indexOf(b));
  return out;
}

/**
 * Re-projects tenants into the auth view: those listed (a listed tenant that no longer exists is
 * removed from the view), or every tenant when `tenantIds` is absent.
 */
export async function syncAuthView(
  db: Kysely<DB>,
  view: AuthView,
  tenantIds?: readonly string[],
): Promise<void> {
  const ids =
    tenantIds ?? (await db.selectFrom('tenants').select('id').orderBy('name').execute()).map((r) => r.id);
  for (const id of ids) {
    const snap = await projectTenant(db, id);
    if (snap) await view.syncTenant(snap);
    else await view.deleteTenant(id);
  }
}
