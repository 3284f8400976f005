/** Core domain types shared by every part: the shapes the authorization core reads. Pure, no I/O. */

export const PERIODS = ['minute', 'hour', 'day', 'week', 'month', 'year', 'eternity'] as const;
export type Period = (typeof PERIODS)[number];

export const AUTH_MODES = ['user_key', 'app_id', 'oidc'] as const;
/** How applications present credentials. 3scale's backend_version: user_key = "1", app_id = "2", oidc = "oauth". */
export type AuthMode = (typeof AUTH_MODES)[number];

export const SERVICE_STATES = ['active', 'suspended'] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

export const APP_STATES = ['pending', 'active', 'suspended'] as const;
export type AppState = (typeof APP_STATES)[number];

export const AUTHORIZATION_MODES = ['strict', 'batched', 'leased'] as const;
export type AuthorizationMode = (typeof AUTHORIZATION_MODES)[number];

/** A metric or method of a service. `parentId` links a method to its parent (usually `hits`). */
export interface MetricDef {
  readonly id: string;
  readonly systemName: string;
  readonly parentId: string | null;
}

/** A plan's usage limit: at most `max` units of `metricId` per `period` window. 0 forbids the metric. */
export interface UsageLimit {
  readonly metricId: string;
  readonly period: Period;
  readonly max: number;
}

/** What the authorization core needs to know about a tenant. */
export interface TenantView {
  readonly id: string;
  readonly name: string;
  readonly providerKey: string;
  /** The tenant's default service: used when a Service Management API call names none. */
  readonly defaultServiceId: string | null;
}

/** What the authorization core needs to know about a service. */
export interface ServiceView {
  readonly id: string;
  readonly tenantId: string;
  readonly providerKey: string;
  readonly state: ServiceState;
  readonly authMode: AuthMode;
  readonly referrerFiltersRequired: boolean;
  readonly authorization: { readonly mode: AuthorizationMode; readonly onStoreFailure: 'deny' | 'allow' };
  readonly metrics: readonly MetricDef[];
  /**
   * The periods counted per metric id: those that some plan of the service limits. Counters exist only
   * to enforce limits (analytics reads the usage log), so other periods are not written. A limit added
   * later starts counting from that moment. Absent: every period of every metric is counted.
   */
  readonly countedPeriods?: Readonly<Record<string, readonly Period[]>>;
}

/** An application plan as the authorization core sees it. */
export interface PlanView {
  readonly id: string;
  readonly serviceId: string;
  readonly name: string;
  readonly limits: readonly UsageLimit[];
}

/** An application as the authorization core sees it. `id` is 3scale's app_id. */
export interface AppView {
  readonly id: string;
  readonly serviceId: string;
  readonly state: AppState;
  readonly planId: string;
  readonly planName: string;
  readonly userKey: string | null;
  /** Up to 5 keys; empty means "no key needed" (3scale semantics). */
  readonly appKeys: readonly string[];
  readonly referrerFilters: readonly string[];
  readonly redirectUrl: string | null;
}

/** Everything the auth view holds for one tenant: what the control plane projects from SQL. */
export interface TenantSnapshot {
  readonly tenant: TenantView;
  readonly services: readonly ServiceView[];
  /** Service tokens (stored as SHA-256 hex digests) that authenticate as the tenant's provider. */
  readonly serviceTokens: readonly { readonly tokenDigest: string; readonly serviceId: string }[];
  readonly plans: readonly PlanView[];
  readonly apps: readonly AppView[];
}
