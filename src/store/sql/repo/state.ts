/** Loads everything under one tenant in a few queries: what export, apply and the projection work from. */
import type { Kysely } from 'kysely';
import type { DB } from '../schema.js';
import {
  type AccountRecord,
  type AdminTokenRecord,
  type ApplicationRecord,
  type MappingRuleRecord,
  type MetricRecord,
  type PlanRecord,
  type PricingRuleRecord,
  type ServiceRecord,
  type TenantRecord,
  toAccount,
  toAdminToken,
  toApplication,
  toMappingRule,
  toMetric,
  toPlan,
  toPricingRule,
  toService,
  toTenant,
  toUsageLimit,
  type UsageLimitRecord,
} from './records.js';

/** A tenant and everything under it; every list ordered by its stored position. */
export interface TenantState {
  readonly tenant: TenantRecord;
  readonly adminTokens: AdminTokenRecord[];
  readonly services: ServiceRecord[];
  /** Sorted by digest (a set: order carries no meaning). */
  readonly serviceTokens: { serviceId: string; tokenHash: string }[];
  readonly metrics: MetricRecord[];
  readonly mappingRules: MappingRuleRecord[];
  readonly plans: PlanRecord[];
  readonly usageLimits: UsageLimitRecord[];
  readonly pricingRules: PricingRuleRecord[];
  readonly accounts: AccountRecord[];
  readonly applications: ApplicationRecord[];
}

/** Groups values by a key, keeping their order. */
export function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

/** Loads a tenant's state, or null when there is no such tenant. */
export async function loadTenantState(db: Kysely<DB>, tenantId: string): Promise<TenantState | null> {
  const t = await db.selectFrom('tenants').selectAll().where('id', '=', tenantId).executeTakeFirst();
  if (!t) return null;
  const svc = (q: 'metrics' | 'mapping_rules' | 'plans' | 'service_tokens') =>
    db
      .selectFrom(q)
      .innerJoin('services', 'services.id', `${q}.service_id`)
      .where('services.tenant_id', '=', tenantId);
  const plan = (q: 'usage_limits' | 'pricing_rules') =>
    db
      .selectFrom(q)
      .innerJoin('plans', 'plans.id', `${q}.plan_id`)
      .innerJoin('services', 'services.id', 'plans.service_id')
      .where('services.tenant_id', '=', tenantId);
  const app = (q: 'app_keys' | 'referrer_filters') =>
    db
      .selectFrom(q)
      .innerJoin('applications', 'applications.id', `${q}.application_id`)
      .where('applications.tenant_id', '=', tenantId)
      .select([`${q}.application_id as applicationId`, `${q}.value as value`])
      .orderBy(`${q}.position`)
      .orderBy(`${q}.value`)
      .execute();

  const [
    tokens,
    services,
    serviceTokens,
    metrics,
    rules,
    plans,
    limits,
    pricing,
    accounts,
    apps,
    keys,
    refs,
  ] = await Promise.all([
    db
      .selectFrom('admin_tokens')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      // Users' personal tokens live only in the admin API: the config neither exports nor prunes them.
      .where('user_id', 'is', null)
      .orderBy('position')
      .orderBy('name')
      .execute(),
    db
      .selectFrom('services')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('position')
      .orderBy('id')
      .execute(),
    svc('service_tokens').selectAll('service_tokens').orderBy('service_tokens.token_hash').execute(),
    svc('metrics').selectAll('metrics').orderBy('metrics.position').orderBy('metrics.system_name').execute(),
    svc('mapping_rules')
      .selectAll('mapping_rules')
      .orderBy('mapping_rules.position')
      .orderBy('mapping_rules.id')
      .execute(),
    svc('plans').selectAll('plans').orderBy('plans.position').orderBy('plans.system_name').execute(),
    plan('usage_limits').selectAll('usage_limits').execute(),
    plan('pricing_rules')
      .selectAll('pricing_rules')
      .orderBy('pricing_rules.position')
      .orderBy('pricing_rules.id')
      .execute(),
    db
      .selectFrom('accounts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('position')
      .orderBy('name')
      .execute(),
    db
      .selectFrom('applications')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('position')
      .orderBy('id')
      .execute(),
    app('app_keys'),
    app('referrer_filters'),
  ]);
  const keysBy = groupBy(keys, (k) => k.applicationId);
  const refsBy = groupBy(refs, (k) => k.applicationId);
  return {
    tenant: toTenant(t),
    adminTokens: tokens.map(toAdminToken),
    services: services.map(toService),
    serviceTokens: serviceTokens.map((r) => ({ serviceId: r.service_id, tokenHash: r.token_hash })),
    metrics: metrics.map(toMetric),
    mappingRules: rules.map(toMappingRule),
    plans: plans.map(toPlan),
    usageLimits: limits.map(toUsageLimit),
    pricingRules: pricing.map(toPricingRule),
    accounts: accounts.map(toAccount),
    applications: apps.map((a) =>
      toApplication(
        a,
        (keysBy.get(a.id) ?? []).map((k) => k.value),
        (refsBy.get(a.id) ?? []).map((k) => k.value),
      ),
    ),
  };
}
