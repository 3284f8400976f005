/**
 * Apply, the service half: makes a tenant's services, their tokens, metrics, mapping rules, plans,
 * limits and pricing rules match the file. Deletions of metrics and plans are handed back to run last,
 * after applications have moved off them (a plan's deletion would otherwise take its apps along).
 */
import type { Kysely } from 'kysely';
import { type FeatureRecord, loadCatalogState } from '../store/sql/repo/catalog.js';
import { newId, newServiceId } from '../store/sql/repo/ids.js';
import type { MetricRecord, ServiceRecord } from '../store/sql/repo/records.js';
import type { TenantState } from '../store/sql/repo/state.js';
import type { DB } from '../store/sql/schema.js';
import { applyPlan } from './apply-plans.js';
import { type ChangeLog, changedFields } from './changes.js';
import type { DesiredFeature, DesiredMetric, DesiredService } from './resolve.js';

type Db = Kysely<DB>;

/** What applications need: service system_name → its id and its plans' ids by system_name. */
export type ServiceIndex = Map<string, { id: string; plans: Map<string, string> }>;

/** Work postponed to the end of the tenant's apply. */
export type Deferred = (() => Promise<void>)[];

const b = (v: boolean) => (v ? 1 : 0);

/** Service ids taken when a file names a new service without an id (so a generated id never collides). */
async function freshServiceId(db: Db): Promise<string> {
  for (;;) {
    const id = newServiceId();
    const hit = await db.selectFrom('services').select('id').where('id', '=', id).executeTakeFirst();
    if (!hit) return id;
  }
}

export async function applyServices(
  db: Db,
  tenantId: string,
  tenantName: string,
  desired: readonly DesiredService[],
  state: TenantState | null,
  log: ChangeLog,
  deferred: Deferred,
): Promise<ServiceIndex> {
  const existing = state?.services ?? [];
  const cat = state ? await loadCatalogState(db, tenantId) : null;
  const byId = new Map(existing.map((s) => [s.id, s]));
  const bySystemName = new Map(existing.map((s) => [s.systemName, s]));
  const claimed = new Set<string>();
  const matches = desired.map((d) => {
    const ex = d.id !== undefined ? byId.get(d.id) : bySystemName.get(d.systemName);
    if (ex && !claimed.has(ex.id)) {
      claimed.add(ex.id);
      return ex;
    }
    return undefined;
  });
  // Unmatched services go first: a file that gives an existing system_name a new id re-creates the
  // service, and the old one must release the name. Their applications go with them (cascade).
  for (const s of existing) {
    if (claimed.has(s.id)) continue;
    await db.deleteFrom('services').where('id', '=', s.id).execute();
    log.add({ action: 'delete', kind: 'service', name: `${tenantName}/services/${s.systemName}` });
  }
  const index: ServiceIndex = new Map();
  for (const [pos, d] of desired.entries()) {
    const ex = matches[pos];
    const name = `${tenantName}/services/${d.systemName}`;
    const row = {
      tenant_id: tenantId,
      system_name: d.systemName,
      name: d.name,
      state: d.state,
      upstream: d.upstream,
      hosts: JSON.stringify(d.hosts),
      auth: JSON.stringify(d.auth),
      authorization: JSON.stringify(d.authorization),
      referrer_filters_required: b(d.referrerFiltersRequired),
      is_default: b(d.isDefault),
      position: pos,
      policies: JSON.stringify(d.policies),
      gateway: JSON.stringify(d.gateway),
    };
    let id: string;
    const haveTokens = ex
      ? (state?.serviceTokens ?? []).filter((t) => t.serviceId === ex.id).map((t) => t.tokenHash)
      : [];
    const haveFeatures = ex ? (cat?.features ?? []).filter((f) => f.serviceId === ex.id) : [];
    if (!ex) {
      id = d.id ?? (await freshServiceId(db));
      await db
        .insertInto('services')
        .values({ id, ...row })
        .execute();
      log.add({ action: 'create', kind: 'service', name });
    } else {
      id = ex.id;
      const fields = [
        ...serviceDiff(d, ex, pos, haveTokens),
        ...changedFields({
          policies: [d.policies, cat?.policies.get(ex.id) ?? []],
          features: [featureRows(d.features), featureRows(haveFeatures)],
        }),
      ];
      if (fields.some((f) => f !== 'service_tokens' && f !== 'features'))
        await db.updateTable('services').set(row).where('id', '=', id).execute();
      if (fields.length > 0) log.add({ action: 'update', kind: 'service', name, fields });
    }
    await syncTokens(db, id, d.tokenHashes, haveTokens);
    const metrics = await applyMetrics(
      db,
      id,
      name,
      d.metrics,
      ex ? (state?.metrics ?? []).filter((m) => m.serviceId === ex.id) : [],
      log,
      deferred,
    );
    await applyMappingRules(db, id, name, d, metrics, state, log);
    const features = await applyFeatures(db, id, d.features, haveFeatures);
    const plans = new Map<string, string>();
    const havePlans = ex ? (state?.plans ?? []).filter((p) => p.serviceId === ex.id) : [];
    const planBy = new Map(havePlans.map((p) => [p.systemName, p]));
    for (const [pp, dp] of d.plans.entries()) {
      plans.set(
        dp.systemName,
        await applyPlan(
          db,
          id,
          `${name}/plans/${dp.systemName}`,
          dp,
          pp,
          planBy.get(dp.systemName),
          metrics,
          state,
          log,
          features,
          cat,
        ),
      );
    }
    for (const p of havePlans) {
      if (plans.has(p.systemName)) continue;
      deferred.push(async () => {
        await db.deleteFrom('plans').where('id', '=', p.id).execute();
        log.add({ action: 'delete', kind: 'plan', name: `${name}/plans/${p.systemName}` });
      });
    }
    index.set(d.systemName, { id, plans });
  }
  return index;
}

/** Features compared by their content and order (ids are the database's). */
function featureRows(fs: readonly (DesiredFeature | FeatureRecord)[]) {
  return fs.map((f) => [f.systemName, f.name, f.description]);
}

/** Features matched by system_name; returns system_name → id. Plans' links go with deleted ones. */
async function applyFeatures(
  db: Db,
  serviceId: string,
  desired: readonly DesiredFeature[],
  have: readonly FeatureRecord[],
): Promise<Map<string, string>> {
  const by = new Map(have.map((f) => [f.systemName, f]));
  const ids = new Map<string, string>();
  for (const f of have) {
    if (desired.some((x) => x.systemName === f.systemName)) continue;
    await db.deleteFrom('features').where('id', '=', f.id).execute();
  }
  for (const [pos, d] of desired.entries()) {
    const ex = by.get(d.systemName);
    const row = { name: d.name, description: d.description, position: pos };
    if (!ex) {
      const id = newId();
      await db
        .insertInto('features')
        .values({ id, service_id: serviceId, system_name: d.systemName, ...row })
        .execute();
      ids.set(d.systemName, id);
      continue;
    }
    ids.set(d.systemName, ex.id);
    if (ex.name !== d.name || ex.description !== d.description || ex.position !== pos)
      await db.updateTable('features').set(row).where('id', '=', ex.id).execute();
  }
  return ids;
}

function serviceDiff(d: DesiredService, ex: ServiceRecord, pos: number, haveTokens: string[]): string[] {
  return changedFields({
    system_name: [d.systemName, ex.systemName],
    name: [d.name, ex.name],
    state: [d.state, ex.state],
    default: [d.isDefault, ex.isDefault],
    upstream: [d.upstream, ex.upstream],
    hosts: [d.hosts, ex.hosts],
    auth: [d.auth, ex.auth],
    authorization: [d.authorization, ex.authorization],
    referrer_filters_required: [d.referrerFiltersRequired, ex.referrerFiltersRequired],
    path_prefix: [d.gateway.path_prefix, ex.gateway.path_prefix],
    errors: [d.gateway.errors, ex.gateway.errors],
    rate_limit_headers: [d.gateway.rate_limit_headers, ex.gateway.rate_limit_headers],
    backend: [d.gateway.backend, ex.gateway.backend],
    position: [pos, ex.position],
    service_tokens: [d.tokenHashes, [...haveTokens].sort()],
  });
}

async function syncTokens(
  db: Db,
  serviceId: string,
  want: readonly string[],
  have: readonly string[],
): Promise<void> {
  const gone = have.filter((h) => !want.includes(h));
  const added = want.filter((h) => !have.includes(h));
  if (gone.length > 0)
    await db
      .deleteFrom('service_tokens')
      .where('service_id', '=', serviceId)
      .where('token_hash', 'in', gone)
      .execute();
  if (added.length > 0)
    await db
      .insertInto('service_tokens')
      .values(added.map((token_hash) => ({ service_id: serviceId, token_hash })))
      .execute();
}

/** Parents before children, so a new metric's parent row exists when it is inserted. */
function parentsFirst(metrics: readonly DesiredMetric[]): [number, DesiredMetric][] {
  const byName = new Map(metrics.map((m, i) => [m.systemName, i]));
  const out: [number, DesiredMetric][] = [];
  const done = new Set<number>();
  const visit = (i: number) => {
    if (done.has(i)) return;
    done.add(i);
    const m = metrics[i]!;
    const p = m.parent === null ? undefined : byName.get(m.parent);
    if (p !== undefined) visit(p);
    out.push([i, m]);
  };
  for (let i = 0; i < metrics.length; i++) visit(i);
  return out;
}

/** Returns metric system_name → id for the service. */
async function applyMetrics(
  db: Db,
  serviceId: string,
  serviceName: string,
  desired: readonly DesiredMetric[],
  have: readonly MetricRecord[],
  log: ChangeLog,
  deferred: Deferred,
): Promise<Map<string, string>> {
  const by = new Map(have.map((m) => [m.systemName, m]));
  const ids = new Map<string, string>();
  for (const [pos, d] of parentsFirst(desired)) {
    const ex = by.get(d.systemName);
    const parentId = d.parent === null ? null : ids.get(d.parent)!;
    const row = { friendly_name: d.friendlyName, unit: d.unit, parent_id: parentId, position: pos };
    const name = `${serviceName}/metrics/${d.systemName}`;
    if (!ex) {
      const id = newId();
      await db
        .insertInto('metrics')
        .values({ id, service_id: serviceId, system_name: d.systemName, ...row })
        .execute();
      ids.set(d.systemName, id);
      log.add({ action: 'create', kind: 'metric', name });
      continue;
    }
    ids.set(d.systemName, ex.id);
    const fields = changedFields({
      name: [d.friendlyName, ex.friendlyName],
      unit: [d.unit, ex.unit],
      parent: [parentId, ex.parentId],
      position: [pos, ex.position],
    });
    if (fields.length === 0) continue;
    await db.updateTable('metrics').set(row).where('id', '=', ex.id).execute();
    log.add({ action: 'update', kind: 'metric', name, fields });
  }
  for (const m of have) {
    if (ids.has(m.systemName)) continue;
    deferred.push(async () => {
      await db.deleteFrom('metrics').where('id', '=', m.id).execute();
      log.add({ action: 'delete', kind: 'metric', name: `${serviceName}/metrics/${m.systemName}` });
    });
  }
  return ids;
}

/** Mapping rules are an ordered list: rule i of the file updates stored rule i (ids stay stable). */
async function applyMappingRules(
  db: Db,
  serviceId: string,
  serviceName: string,
  d: DesiredService,
  metrics: Map<string, string>,
  state: TenantState | null,
  log: ChangeLog,
): Promise<void> {
  const have = (state?.mappingRules ?? []).filter((r) => r.serviceId === serviceId);
  for (const [pos, r] of d.mappingRules.entries()) {
    const row = {
      method: r.method,
      pattern: r.pattern,
      metric_id: metrics.get(r.metric)!,
      delta: r.delta,
      last: b(r.last),
      position: pos,
    };
    const ex = have[pos];
    const name = `${serviceName}/mapping_rules[${pos}]`;
    if (!ex) {
      await db
        .insertInto('mapping_rules')
        .values({ id: newId(), service_id: serviceId, ...row })
        .execute();
      log.add({ action: 'create', kind: 'mapping_rule', name });
      continue;
    }
    const fields = changedFields({
      method: [row.method, ex.method],
      pattern: [row.pattern, ex.pattern],
      metric: [row.metric_id, ex.metricId],
      delta: [row.delta, ex.delta],
      last: [r.last, ex.last],
      position: [pos, ex.position],
    });
    if (fields.length === 0) continue;
    await db.updateTable('mapping_rules').set(row).where('id', '=', ex.id).execute();
    log.add({ action: 'update', kind: 'mapping_rule', name, fields });
  }
  for (const [pos, ex] of have.entries()) {
    if (pos < d.mappingRules.length) continue;
    await db.deleteFrom('mapping_rules').where('id', '=', ex.id).execute();
    log.add({ action: 'delete', kind: 'mapping_rule', name: `${serviceName}/mapping_rules[${pos}]` });
  }
}
