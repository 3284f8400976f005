/**
 * The catalog's additions to a tenant's state (migration 004): service policies, features, plan flags
 * and plan features. Loaded beside `loadTenantState` by apply and export.
 */
import type { Kysely } from 'kysely';
import type { DB } from '../schema.js';
import { num } from './records.js';

/** One policy of a service's chain, as stored (and as the config and the admin API write it). */
export interface PolicyEntry {
  readonly name: string;
  readonly enabled: boolean;
  readonly configuration: Record<string, unknown>;
}

export interface FeatureRecord {
  readonly id: string;
  readonly serviceId: string;
  readonly systemName: string;
  readonly name: string;
  readonly description: string | null;
  readonly position: number;
}

export interface PlanFlags {
  readonly approvalRequired: boolean;
  readonly isDefault: boolean;
}

/** The catalog additions of one tenant. */
export interface CatalogState {
  /** service id → policy chain (services without policies have an empty chain). */
  readonly policies: Map<string, PolicyEntry[]>;
  /** Ordered by service, then position. */
  readonly features: FeatureRecord[];
  /** plan id → its flags. */
  readonly planFlags: Map<string, PlanFlags>;
  /** plan id → ids of the features it enables. */
  readonly planFeatures: Map<string, string[]>;
  /** `service_id \n token_hash` → created_at (null for config-applied tokens). */
  readonly tokenCreatedAt: Map<string, number | null>;
}

export const toFeature = (r: {
  id: string;
  service_id: string;
  system_name: string;
  name: string;
  description: string | null;
  position: number;
}): FeatureRecord => ({
  id: r.id,
  serviceId: r.service_id,
  systemName: r.system_name,
  name: r.name,
  description: r.description,
  position: r.position,
});

export function parsePolicies(json: string): PolicyEntry[] {
  return JSON.parse(json) as PolicyEntry[];
}

/** Loads the catalog additions of a tenant. */
export async function loadCatalogState(db: Kysely<DB>, tenantId: string): Promise<CatalogState> {
  const [services, features, plans, planFeatures, tokens] = await Promise.all([
    db.selectFrom('services').select(['id', 'policies']).where('tenant_id', '=', tenantId).execute(),
    db
      .selectFrom('features')
      .innerJoin('services', 'services.id', 'features.service_id')
      .where('services.tenant_id', '=', tenantId)
      .selectAll('features')
      .orderBy('features.service_id')
      .orderBy('features.position')
      .orderBy('features.system_name')
      .execute(),
    db
      .selectFrom('plans')
      .innerJoin('services', 'services.id', 'plans.service_id')
      .where('services.tenant_id', '=', tenantId)
      .select(['plans.id', 'plans.approval_required', 'plans.is_default'])
      .execute(),
    db
      .selectFrom('plan_features')
      .innerJoin('plans', 'plans.id', 'plan_features.plan_id')
      .innerJoin('services', 'services.id', 'plans.service_id')
      .where('services.tenant_id', '=', tenantId)
      .select(['plan_features.plan_id', 'plan_features.feature_id'])
      .orderBy('plan_features.plan_id')
      .orderBy('plan_features.feature_id')
      .execute(),
    db
      .selectFrom('service_tokens')
      .innerJoin('services', 'services.id', 'service_tokens.service_id')
      .where('services.tenant_id', '=', tenantId)
      .select(['service_tokens.service_id', 'service_tokens.token_hash', 'service_tokens.created_at'])
      .execute(),
  ]);
  const pf = new Map<string, string[]>();
  for (const r of planFeatures) pf.set(r.plan_id, [...(pf.get(r.plan_id) ?? []), r.feature_id]);
  return {
    policies: new Map(services.map((s) => [s.id, parsePolicies(s.policies)])),
    features: features.map(toFeature),
    planFlags: new Map(
      plans.map((p) => [
        p.id,
        { approvalRequired: p.approval_required === 1, isDefault: p.is_default === 1 },
      ]),
    ),
    planFeatures: pf,
    tokenCreatedAt: new Map(
      tokens.map((t) => [
        `${t.service_id}\n${t.token_hash}`,
        t.created_at === null ? null : num(t.created_at),
      ]),
    ),
  };
}
