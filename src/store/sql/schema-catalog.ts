/**
 * Table types of the catalog additions (migration 004): plan features, and the columns 004 adds to
 * 001's tables (merged into their table types by module augmentation, so 001's file stays as shipped).
 */
import type { Generated } from 'kysely';
import type { EpochMs } from './schema-config.js';

declare module './schema-config.js' {
  interface ServicesTable {
    /** JSON array of `{name, enabled, configuration}`: the gateway's policy chain, in order. */
    policies: Generated<string>;
  }
  interface PlansTable {
    /** 0/1: applications on this plan start `pending` until approved. */
    approval_required: Generated<number>;
    /** 0/1: the service's default plan (at most one per service). */
    is_default: Generated<number>;
  }
  interface ServiceTokensTable {
    /** Null for tokens written by a config apply (a file carries no creation time). */
    created_at: EpochMs | null;
  }
}

/** A feature a service's plans may include (3scale's plan features), e.g. "Premium support". */
export interface FeaturesTable {
  id: string;
  service_id: string;
  system_name: string;
  name: string;
  description: string | null;
  position: number;
}

/** A feature enabled on a plan. */
export interface PlanFeaturesTable {
  plan_id: string;
  feature_id: string;
}

export interface CatalogTables {
  features: FeaturesTable;
  plan_features: PlanFeaturesTable;
}
