/**
 * Export: the stored state of tenants written as a version-1 config. Hashed secrets appear as
 * `{hash: "sha256:<hex>"}`, generated ids and app_ids are included, lists follow the stored positions:
 * applying an export back changes nothing.
 */
import type { Kysely } from 'kysely';
import YAML from 'yaml';
import { PERIODS } from '../domain/model.js';
import { type CatalogState, loadCatalogState } from '../store/sql/repo/catalog.js';
import { type DeveloperExtras, loadDeveloperExtras } from '../store/sql/repo/developers.js';
import type { ApplicationRecord, ServiceRecord } from '../store/sql/repo/records.js';
import { groupBy, loadTenantState, type TenantState } from '../store/sql/repo/state.js';
import { listTenants } from '../store/sql/repo/tenants.js';
import type { DB } from '../store/sql/schema.js';
import { ADMIN_SCOPES, type ConfigInput, type POLICY_NAMES } from './schema.js';
import { hashRef } from './secrets.js';

type TenantInput = NonNullable<ConfigInput['tenants']>[number];
type ServiceInput = NonNullable<TenantInput['services']>[number];
type AppInput = NonNullable<NonNullable<TenantInput['accounts']>[number]['applications']>[number];

export interface ExportOptions {
  /** Tenant names to export; all tenants when absent. */
  readonly tenants?: readonly string[];
}

/** Exports tenants (all, or those named) as a config document, tenants ordered by name. */
export async function exportConfig(db: Kysely<DB>, opts: ExportOptions = {}): Promise<ConfigInput> {
  const wanted = opts.tenants ? new Set(opts.tenants) : null;
  const tenants = (await listTenants(db)).filter((t) => wanted === null || wanted.has(t.name));
  const out: TenantInput[] = [];
  for (const t of tenants) {
    const state = await loadTenantState(db, t.id);
    if (state)
      out.push(exportTenant(state, await loadCatalogState(db, t.id), await loadDeveloperExtras(db, t.id)));
  }
  return { version: 1, tenants: out };
}

/** Serializes a document as YAML (block style, no line folding). */
export function toYaml(doc: unknown): string {
  return YAML.stringify(doc, { lineWidth: 0 });
}

function exportTenant(s: TenantState, cat: CatalogState, dev: DeveloperExtras): TenantInput {
  const allScopes = JSON.stringify([...ADMIN_SCOPES]);
  return {
    name: s.tenant.name,
    provider_key: s.tenant.providerKey,
    admin_tokens: s.adminTokens.map((a) => ({
      name: a.name,
      ...hashRef(a.tokenHash),
      ...(JSON.stringify(a.scopes) === allScopes
        ? {}
        : { scopes: a.scopes as (typeof ADMIN_SCOPES)[number][] }),
      ...(a.readOnly ? { read_only: true } : {}),
      ...(a.expiresAt === null ? {} : { expires_at: new Date(a.expiresAt).toISOString() }),
    })),
    services: s.services.map((svc, i) => exportService(s, svc, i, cat)),
    accounts: exportAccounts(s, dev),
  };
}

function exportService(s: TenantState, svc: ServiceRecord, index: number, cat: CatalogState): ServiceInput {
  const metrics = s.metrics.filter((m) => m.serviceId === svc.id);
  const metricName = new Map(metrics.map((m) => [m.id, m.systemName]));
  const metricPos = new Map(metrics.map((m) => [m.id, m.position]));
  const name = (id: string) => metricName.get(id)!;
  const tokens = s.serviceTokens.filter((t) => t.serviceId === svc.id);
  const features = cat.features.filter((f) => f.serviceId === svc.id);
  const featureName = new Map(features.map((f) => [f.id, f.systemName]));
  const policies = cat.policies.get(svc.id) ?? [];
  return {
    id: svc.id,
    system_name: svc.systemName,
    name: svc.name,
    state: svc.state,
    // The first service is the default unless another says so: only the exception is written.
    ...(svc.isDefault && index > 0 ? { default: true } : {}),
    ...(tokens.length > 0 ? { service_tokens: tokens.map((t) => hashRef(t.tokenHash)) } : {}),
    ...(svc.upstream === null ? {} : { upstream: svc.upstream }),
    hosts: svc.hosts,
    ...(svc.gateway.path_prefix === undefined ? {} : { path_prefix: svc.gateway.path_prefix }),
    auth: { ...svc.auth },
    referrer_filters_required: svc.referrerFiltersRequired,
    authorization: { ...svc.authorization },
    ...(svc.gateway.errors === undefined ? {} : { errors: svc.gateway.errors }),
    ...(svc.gateway.rate_limit_headers === undefined
      ? {}
      : { rate_limit_headers: svc.gateway.rate_limit_headers }),
    ...(svc.gateway.backend === undefined ? {} : { backend: svc.gateway.backend }),
    metrics: metrics.map((m) => ({
      system_name: m.systemName,
      ...(m.friendlyName === m.systemName ? {} : { name: m.friendlyName }),
      unit: m.unit,
      ...(m.parentId === null ? {} : { parent: name(m.parentId) }),
    })),
    mapping_rules: s.mappingRules
      .filter((r) => r.serviceId === svc.id)
      .map((r) => ({
        method: r.method as 'GET',
        pattern: r.pattern,
        metric: name(r.metricId),
        delta: r.delta,
        last: r.last,
      })),
    ...(policies.length > 0
      ? {
          policies: policies.map((p) => ({
            name: p.name as (typeof POLICY_NAMES)[number],
            enabled: p.enabled,
            configuration: p.configuration,
          })),
        }
      : {}),
    ...(features.length > 0
      ? {
          features: features.map((f) => ({
            system_name: f.systemName,
            ...(f.name === f.systemName ? {} : { name: f.name }),
            ...(f.description === null ? {} : { description: f.description }),
          })),
        }
      : {}),
    plans: s.plans
      .filter((p) => p.serviceId === svc.id)
      .map((p) => {
        const limits: Record<string, Record<string, number>> = {};
        const mine = s.usageLimits
          .filter((l) => l.planId === p.id)
          .sort(
            (a, b) =>
              (metricPos.get(a.metricId) ?? 0) - (metricPos.get(b.metricId) ?? 0) ||
              name(a.metricId).localeCompare(name(b.metricId)) ||
              PERIODS.indexOf(a.period) - PERIODS.indexOf(b.period),
          );
        for (const l of mine) {
          const byPeriod = limits[name(l.metricId)] ?? {};
          byPeriod[l.period] = l.maxValue;
          limits[name(l.metricId)] = byPeriod;
        }
        return {
          system_name: p.systemName,
          name: p.name,
          state: p.state as 'published',
          ...(cat.planFlags.get(p.id)?.approvalRequired ? { approval_required: true } : {}),
          ...(cat.planFlags.get(p.id)?.isDefault ? { default: true } : {}),
          ...((cat.planFeatures.get(p.id) ?? []).length > 0
            ? { features: (cat.planFeatures.get(p.id) ?? []).map((id) => featureName.get(id)!).sort() }
            : {}),
          limits,
          pricing: {
            monthly_fee: p.monthlyFee,
            setup_fee: p.setupFee,
            trial_days: p.trialDays,
            rules: s.pricingRules
              .filter((r) => r.planId === p.id)
              .map((r) => ({
                metric: name(r.metricId),
                from: r.minUnits,
                ...(r.maxUnits === null ? {} : { to: r.maxUnits }),
                price_per_unit: r.pricePerUnit,
              })),
          },
        };
      }),
  };
}

function exportAccounts(s: TenantState, dev: DeveloperExtras): NonNullable<TenantInput['accounts']> {
  const serviceName = new Map(s.services.map((x) => [x.id, x.systemName]));
  const planName = new Map(s.plans.map((x) => [x.id, x.systemName]));
  const apps = groupBy(s.applications, (a) => a.accountId);
  const app = (a: ApplicationRecord): AppInput => ({
    name: a.name,
    service: serviceName.get(a.serviceId)!,
    plan: planName.get(a.planId)!,
    state: a.state,
    app_id: a.appId,
    ...(a.userKey === null ? {} : { user_key: a.userKey }),
    ...(a.appKeys.length > 0 ? { app_keys: a.appKeys } : {}),
    ...(a.referrerFilters.length > 0 ? { referrer_filters: a.referrerFilters } : {}),
    ...(a.redirectUrl === null ? {} : { redirect_url: a.redirectUrl }),
    ...((dev.appDescriptions.get(a.id) ?? null) === null
      ? {}
      : { description: dev.appDescriptions.get(a.id)! }),
  });
  return s.accounts.map((acc) => ({
    name: acc.name,
    ...(acc.email === null ? {} : { email: acc.email }),
    ...((dev.accountStates.get(acc.id) ?? 'approved') === 'approved'
      ? {}
      : { state: dev.accountStates.get(acc.id) as 'pending' | 'suspended' }),
    applications: (apps.get(acc.id) ?? []).map(app),
  }));
}
