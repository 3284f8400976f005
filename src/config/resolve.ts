/**
 * Resolves a validated document into the desired state of each tenant: defaults that depend on other
 * fields (auth parameters, names, the default service), secrets as digests, dates as epoch ms.
 */
import type { AppState, Period, ServiceState } from '../domain/model.js';
import type { PolicyEntry } from '../store/sql/repo/catalog.js';
import type { ServiceAuth, ServiceAuthorization, ServiceGateway } from '../store/sql/repo/records.js';
import { ADMIN_SCOPES, type ServiceDoc, type TenantDoc } from './schema.js';
import { digestOf, serviceTokenDigests } from './secrets.js';

export interface DesiredAdminToken {
  readonly name: string;
  readonly tokenHash: string;
  readonly scopes: string[];
  readonly readOnly: boolean;
  readonly expiresAt: number | null;
}

export interface DesiredMetric {
  readonly systemName: string;
  readonly friendlyName: string;
  readonly unit: string;
  readonly parent: string | null;
}

export interface DesiredMappingRule {
  readonly method: string;
  readonly pattern: string;
  readonly metric: string;
  readonly delta: number;
  readonly last: boolean;
}

export interface DesiredPlan {
  readonly systemName: string;
  readonly name: string;
  readonly state: string;
  readonly monthlyFee: string;
  readonly setupFee: string;
  readonly trialDays: number;
  readonly approvalRequired: boolean;
  readonly isDefault: boolean;
  /** Feature system_names, sorted (a set). */
  readonly features: string[];
  readonly limits: { metric: string; period: Period; max: number }[];
  readonly pricing: { metric: string; min: number; max: number | null; price: string }[];
}

export interface DesiredService {
  /** Absent: matched by system_name, generated on create. */
  readonly id: string | undefined;
  readonly systemName: string;
  readonly name: string;
  readonly state: ServiceState;
  readonly isDefault: boolean;
  /** Sorted, unique SHA-256 hex digests. */
  readonly tokenHashes: string[];
  readonly upstream: string | null;
  readonly hosts: string[];
  readonly auth: ServiceAuth;
  readonly authorization: ServiceAuthorization;
  readonly referrerFiltersRequired: boolean;
  /** Data-plane settings, only the keys the file sets. */
  readonly gateway: ServiceGateway;
  readonly metrics: DesiredMetric[];
  readonly mappingRules: DesiredMappingRule[];
  readonly policies: PolicyEntry[];
  readonly features: DesiredFeature[];
  readonly plans: DesiredPlan[];
}

export interface DesiredFeature {
  readonly systemName: string;
  readonly name: string;
  readonly description: string | null;
}

export interface DesiredApp {
  readonly name: string;
  readonly service: string;
  readonly plan: string;
  readonly state: AppState;
  /** Absent: kept when matched, generated on create. */
  readonly appId: string | undefined;
  readonly userKey: string | null;
  readonly appKeys: string[];
  readonly referrerFilters: string[];
  readonly redirectUrl: string | null;
  readonly description: string | null;
}

export interface DesiredAccount {
  readonly name: string;
  readonly email: string | null;
  readonly state: string;
  readonly apps: DesiredApp[];
}

/** One tenant as the file wants it. */
export interface DesiredTenant {
  readonly name: string;
  readonly providerKey: string;
  readonly adminTokens: DesiredAdminToken[];
  readonly services: DesiredService[];
  readonly accounts: DesiredAccount[];
}

/** The credential parameters each auth mode uses unless the file names others. */
export function resolveAuth(a: ServiceDoc['auth']): ServiceAuth {
  switch (a.mode) {
    case 'user_key':
      return { mode: a.mode, location: a.location ?? 'query', param: a.param ?? 'user_key' };
    case 'app_id':
      return {
        mode: a.mode,
        location: a.location ?? 'query',
        param: a.param ?? 'app_id',
        key_param: a.key_param ?? 'app_key',
      };
    case 'oidc': {
      const base = {
        mode: a.mode,
        location: a.location ?? 'header',
        param: a.param ?? 'Authorization',
      } as const;
      return {
        ...base,
        ...(a.issuer === undefined ? {} : { issuer: a.issuer }),
        ...(a.jwks_url === undefined ? {} : { jwks_url: a.jwks_url }),
        ...(a.audience === undefined ? {} : { audience: a.audience }),
      };
    }
  }
}

/** The gateway fields of a service document (`services.gateway`): only those the document sets. */
export function resolveGateway(s: ServiceDoc): ServiceGateway {
  return {
    ...(s.path_prefix === undefined ? {} : { path_prefix: s.path_prefix }),
    ...(s.errors === undefined ? {} : { errors: s.errors }),
    ...(s.rate_limit_headers === undefined ? {} : { rate_limit_headers: s.rate_limit_headers }),
    ...(s.backend === undefined ? {} : { backend: s.backend }),
  };
}

function resolveService(s: ServiceDoc, isDefault: boolean): DesiredService {
  return {
    id: s.id,
    systemName: s.system_name,
    name: s.name ?? s.system_name,
    state: s.state,
    isDefault,
    tokenHashes: [...new Set(serviceTokenDigests(s))].sort(),
    upstream: s.upstream ?? null,
    hosts: s.hosts,
    auth: resolveAuth(s.auth),
    authorization: { ...s.authorization },
    gateway: resolveGateway(s),
    referrerFiltersRequired: s.referrer_filters_required,
    metrics: s.metrics.map((m) => ({
      systemName: m.system_name,
      friendlyName: m.name ?? m.system_name,
      unit: m.unit,
      parent: m.parent ?? null,
    })),
    mappingRules: s.mapping_rules.map((r) => ({ ...r })),
    policies: s.policies.map((p) => ({ name: p.name, enabled: p.enabled, configuration: p.configuration })),
    features: s.features.map((f) => ({
      systemName: f.system_name,
      name: f.name ?? f.system_name,
      description: f.description ?? null,
    })),
    plans: s.plans.map((p) => ({
      systemName: p.system_name,
      name: p.name ?? p.system_name,
      state: p.state,
      monthlyFee: p.pricing.monthly_fee,
      setupFee: p.pricing.setup_fee,
      trialDays: p.pricing.trial_days,
      approvalRequired: p.approval_required,
      isDefault: p.default === true,
      features: [...p.features].sort(),
      limits: Object.entries(p.limits).flatMap(([metric, byPeriod]) =>
        Object.entries(byPeriod).map(([period, max]) => ({ metric, period: period as Period, max })),
      ),
      pricing: p.pricing.rules.map((r) => ({
        metric: r.metric,
        min: r.from,
        max: r.to ?? null,
        price: r.price_per_unit,
      })),
    })),
  };
}

/** Resolves one validated tenant. The default service is the one marked `default`, else the first. */
export function resolveTenant(t: TenantDoc): DesiredTenant {
  const marked = t.services.findIndex((s) => s.default === true);
  // findIndex gives -1 when no service is marked: the first one is the default then.
  const defaultIndex = Math.max(marked, 0);
  return {
    name: t.name,
    providerKey: t.provider_key,
    adminTokens: t.admin_tokens.map((tok) => ({
      name: tok.name,
      tokenHash: digestOf(tok),
      scopes: tok.scopes ? [...new Set(tok.scopes)] : [...ADMIN_SCOPES],
      readOnly: tok.read_only,
      expiresAt: tok.expires_at === undefined ? null : Date.parse(tok.expires_at),
    })),
    services: t.services.map((s, i) => resolveService(s, i === defaultIndex)),
    accounts: t.accounts.map((a) => ({
      name: a.name,
      email: a.email ?? null,
      state: a.state,
      apps: a.applications.map((app) => ({
        name: app.name,
        service: app.service,
        plan: app.plan,
        state: app.state,
        appId: app.app_id,
        userKey: app.user_key ?? null,
        appKeys: app.app_keys,
        referrerFilters: app.referrer_filters,
        redirectUrl: app.redirect_url ?? null,
        description: app.description ?? null,
      })),
    })),
  };
}
