/**
 * The control plane's rows as typed values (camelCase, JSON parsed, 0/1 as booleans, BIGINTs as
 * numbers) and the mappers from raw rows. Everything above the SQL layer sees only these.
 */
import type { Selectable } from 'kysely';
import type { AppState, AuthMode, AuthorizationMode, Period, ServiceState } from '../../../domain/model.js';
import type {
  AccountsTable,
  AdminTokensTable,
  ApplicationsTable,
  MappingRulesTable,
  MetricsTable,
  PlansTable,
  PricingRulesTable,
  ServicesTable,
  TenantsTable,
  UsageLimitsTable,
} from '../schema-config.js';

/** node-postgres reads BIGINT as a string; SQLite as a number. */
export function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}
function numOrNull(v: number | string | null): number | null {
  return v === null ? null : num(v);
}

export interface TenantRecord {
  readonly id: string;
  readonly name: string;
  readonly providerKey: string;
  readonly configVersion: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface AdminTokenRecord {
  readonly id: string;
  /** null for a platform token. */
  readonly tenantId: string | null;
  readonly name: string;
  /** SHA-256 hex of the token. */
  readonly tokenHash: string;
  readonly scopes: string[];
  readonly readOnly: boolean;
  readonly expiresAt: number | null;
  readonly position: number;
  readonly createdAt: number;
}

/** A service's credential settings, stored as JSON with the config's field names. */
export interface ServiceAuth {
  readonly mode: AuthMode;
  readonly location: 'query' | 'header';
  readonly param: string;
  readonly key_param?: string;
  readonly issuer?: string;
  readonly jwks_url?: string;
  readonly audience?: string;
}

export interface ServiceAuthorization {
  readonly mode: AuthorizationMode;
  readonly on_store_failure: 'deny' | 'allow';
  readonly flush_ms?: number;
  readonly lease_size?: number;
  readonly store_timeout_ms?: number;
}

/** One configurable error answer of the gateway. */
export interface ErrorAnswer {
  readonly status: number;
  readonly content_type?: string;
  readonly body?: string;
}

/** A remote 3scale-compatible backend (the config's `backend`). */
export interface RemoteBackend {
  readonly url: string;
  readonly mode: 'authrep' | 'cached';
  readonly service_token?: string;
  readonly provider_key?: string;
  readonly service_id?: string;
  readonly flush_ms?: number;
  readonly timeout_ms?: number;
}

/** A service's data-plane settings beyond hosts and upstream, stored as JSON with the config's field names. */
export interface ServiceGateway {
  readonly path_prefix?: string;
  readonly errors?: Partial<
    Record<'auth_missing' | 'auth_failed' | 'no_match' | 'limits_exceeded', ErrorAnswer>
  >;
  readonly rate_limit_headers?: boolean;
  readonly backend?: RemoteBackend;
}

export interface ServiceRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly systemName: string;
  readonly name: string;
  readonly state: ServiceState;
  readonly upstream: string | null;
  readonly hosts: string[];
  readonly auth: ServiceAuth;
  readonly authorization: ServiceAuthorization;
  readonly referrerFiltersRequired: boolean;
  readonly isDefault: boolean;
  readonly position: number;
  readonly gateway: ServiceGateway;
}

export interface MetricRecord {
  readonly id: string;
  readonly serviceId: string;
  readonly systemName: string;
  readonly friendlyName: string;
  readonly unit: string;
  readonly parentId: string | null;
  readonly position: number;
}

export interface MappingRuleRecord {
  readonly id: string;
  readonly serviceId: string;
  readonly method: string;
  readonly pattern: string;
  readonly metricId: string;
  readonly delta: number;
  readonly last: boolean;
  readonly position: number;
}

export interface PlanRecord {
  readonly id: string;
  readonly serviceId: string;
  readonly systemName: string;
  readonly name: string;
  readonly state: string;
  readonly monthlyFee: string;
  readonly setupFee: string;
  readonly trialDays: number;
  readonly position: number;
}

export interface UsageLimitRecord {
  readonly planId: string;
  readonly metricId: string;
  readonly period: Period;
  readonly maxValue: number;
}

export interface PricingRuleRecord {
  readonly id: string;
  readonly planId: string;
  readonly metricId: string;
  readonly minUnits: number;
  readonly maxUnits: number | null;
  readonly pricePerUnit: string;
  readonly position: number;
}

export interface AccountRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly email: string | null;
  readonly position: number;
}

export interface ApplicationRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly accountId: string;
  readonly serviceId: string;
  readonly planId: string;
  /** The 3scale-visible application id. */
  readonly appId: string;
  readonly name: string;
  readonly state: AppState;
  readonly userKey: string | null;
  readonly redirectUrl: string | null;
  readonly position: number;
  /** Ordered by position. */
  readonly appKeys: string[];
  /** Ordered by position. */
  readonly referrerFilters: string[];
}

export const toTenant = (r: Selectable<TenantsTable>): TenantRecord => ({
  id: r.id,
  name: r.name,
  providerKey: r.provider_key,
  configVersion: num(r.config_version),
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
});

export const toAdminToken = (r: Selectable<AdminTokensTable>): AdminTokenRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  tokenHash: r.token_hash,
  scopes: JSON.parse(r.scopes) as string[],
  readOnly: r.read_only === 1,
  expiresAt: numOrNull(r.expires_at),
  position: r.position,
  createdAt: num(r.created_at),
});

export const toService = (r: Selectable<ServicesTable>): ServiceRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  systemName: r.system_name,
  name: r.name,
  state: r.state as ServiceState,
  upstream: r.upstream,
  hosts: JSON.parse(r.hosts) as string[],
  auth: JSON.parse(r.auth) as ServiceAuth,
  authorization: JSON.parse(r.authorization) as ServiceAuthorization,
  referrerFiltersRequired: r.referrer_filters_required === 1,
  isDefault: r.is_default === 1,
  position: r.position,
  gateway: JSON.parse(r.gateway ?? '{}') as ServiceGateway,
});

export const toMetric = (r: Selectable<MetricsTable>): MetricRecord => ({
  id: r.id,
  serviceId: r.service_id,
  systemName: r.system_name,
  friendlyName: r.friendly_name,
  unit: r.unit,
  parentId: r.parent_id,
  position: r.position,
});

export const toMappingRule = (r: Selectable<MappingRulesTable>): MappingRuleRecord => ({
  id: r.id,
  serviceId: r.service_id,
  method: r.method,
  pattern: r.pattern,
  metricId: r.metric_id,
  delta: r.delta,
  last: r.last === 1,
  position: r.position,
});

export const toPlan = (r: Selectable<PlansTable>): PlanRecord => ({
  id: r.id,
  serviceId: r.service_id,
  systemName: r.system_name,
  name: r.name,
  state: r.state,
  monthlyFee: r.monthly_fee,
  setupFee: r.setup_fee,
  trialDays: r.trial_days,
  position: r.position,
});

export const toUsageLimit = (r: Selectable<UsageLimitsTable>): UsageLimitRecord => ({
  planId: r.plan_id,
  metricId: r.metric_id,
  period: r.period as Period,
  maxValue: num(r.max_value),
});

export const toPricingRule = (r: Selectable<PricingRulesTable>): PricingRuleRecord => ({
  id: r.id,
  planId: r.plan_id,
  metricId: r.metric_id,
  minUnits: num(r.min_units),
  maxUnits: numOrNull(r.max_units),
  pricePerUnit: r.price_per_unit,
  position: r.position,
});

export const toAccount = (r: Selectable<AccountsTable>): AccountRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  email: r.email,
  position: r.position,
});

export function toApplication(
  r: Selectable<ApplicationsTable>,
  appKeys: string[],
  referrerFilters: string[],
): ApplicationRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    accountId: r.account_id,
    serviceId: r.service_id,
    planId: r.plan_id,
    appId: r.app_id,
    name: r.name,
    state: r.state as AppState,
    userKey: r.user_key,
    redirectUrl: r.redirect_url,
    position: r.position,
    appKeys,
    referrerFilters,
  };
}
