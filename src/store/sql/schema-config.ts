/** Kysely table types of the control plane's tables (migration 001). Booleans are 0/1 integers, JSON is text. */
import type { ColumnType } from 'kysely';

/**
 * A BIGINT column. node-postgres returns int8 as a string, SQLite as a number:
 * read through `Number()` (see repo/rows.ts), write numbers.
 */
export type Int64 = ColumnType<number | string, number, number>;
/** Epoch milliseconds (a BIGINT). */
export type EpochMs = Int64;
/** A BIGSERIAL / INTEGER PRIMARY KEY AUTOINCREMENT column: generated, read as number or string. */
export type AutoId = ColumnType<number | string, never, never>;

/** A tenant: one provider with its services, accounts and tokens. */
export interface TenantsTable {
  id: string;
  /** Slug, unique. */
  name: string;
  /** The tenant-wide Service Management API key, unique (kept plain: the auth view digests it). */
  provider_key: string;
  /** Bumped by every apply that changes something under the tenant; polled for re-projection. */
  config_version: number;
  created_at: EpochMs;
  updated_at: EpochMs;
}

/** An admin API token. `tenant_id` null = platform token. Only the SHA-256 hex digest is stored. */
export interface AdminTokensTable {
  id: string;
  tenant_id: string | null;
  name: string;
  token_hash: string;
  /** JSON array of scope names. */
  scopes: string;
  read_only: number;
  expires_at: EpochMs | null;
  position: number;
  created_at: EpochMs;
}

export interface ServicesTable {
  id: string;
  tenant_id: string;
  system_name: string;
  name: string;
  state: string;
  upstream: string | null;
  /** JSON array of host names. */
  hosts: string;
  /** JSON `{mode, location, param, key_param?, issuer?}`. */
  auth: string;
  /** JSON `{mode, on_store_failure}`. */
  authorization: string;
  referrer_filters_required: number;
  is_default: number;
  position: number;
}

/** A service token, stored as its SHA-256 hex digest. */
export interface ServiceTokensTable {
  service_id: string;
  token_hash: string;
}

export interface MetricsTable {
  id: string;
  service_id: string;
  system_name: string;
  friendly_name: string;
  unit: string;
  parent_id: string | null;
  position: number;
}

export interface MappingRulesTable {
  id: string;
  service_id: string;
  method: string;
  pattern: string;
  metric_id: string;
  delta: number;
  last: number;
  position: number;
}

export interface PlansTable {
  id: string;
  service_id: string;
  system_name: string;
  name: string;
  state: string;
  /** Decimal string. */
  monthly_fee: string;
  /** Decimal string. */
  setup_fee: string;
  trial_days: number;
  position: number;
}

export interface UsageLimitsTable {
  plan_id: string;
  metric_id: string;
  period: string;
  max_value: Int64;
}

export interface PricingRulesTable {
  id: string;
  plan_id: string;
  metric_id: string;
  min_units: Int64;
  max_units: Int64 | null;
  /** Decimal string. */
  price_per_unit: string;
  position: number;
}

export interface AccountsTable {
  id: string;
  tenant_id: string;
  name: string;
  email: string | null;
  position: number;
}

export interface ApplicationsTable {
  /** Internal id; `app_id` is the 3scale-visible one. */
  id: string;
  tenant_id: string;
  account_id: string;
  service_id: string;
  plan_id: string;
  app_id: string;
  name: string;
  state: string;
  user_key: string | null;
  redirect_url: string | null;
  position: number;
}

export interface AppKeysTable {
  application_id: string;
  value: string;
  position: number;
}

export interface ReferrerFiltersTable {
  application_id: string;
  value: string;
  position: number;
}

/** Integration errors per service (3scale keeps the newest 1000). No foreign key: the log outlives nothing. */
export interface IntegrationErrorsTable {
  id: AutoId;
  service_id: string;
  code: string;
  message: string;
  timestamp: EpochMs;
}

/** Table types of the control plane's tables. */
export interface ConfigTables {
  tenants: TenantsTable;
  admin_tokens: AdminTokensTable;
  services: ServicesTable;
  service_tokens: ServiceTokensTable;
  metrics: MetricsTable;
  mapping_rules: MappingRulesTable;
  plans: PlansTable;
  usage_limits: UsageLimitsTable;
  pricing_rules: PricingRulesTable;
  accounts: AccountsTable;
  applications: ApplicationsTable;
  app_keys: AppKeysTable;
  referrer_filters: ReferrerFiltersTable;
  integration_errors: IntegrationErrorsTable;
}
