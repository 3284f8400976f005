/** Apply, the plans part: a plan's own fields, its usage limits (by metric and period) and pricing rules (by position). */
import type { Kysely } from 'kysely';
import type { CatalogState } from '../store/sql/repo/catalog.js';
import { newId } from '../store/sql/repo/ids.js';
import type { PlanRecord } from '../store/sql/repo/records.js';
import type { TenantState } from '../store/sql/repo/state.js';
import type { DB } from '../store/sql/schema.js';
import { type ChangeLog, changedFields } from './changes.js';
import type { DesiredPlan } from './resolve.js';

type Db = Kysely<DB>;

/** Creates or updates one plan with its limits and pricing rules; returns its id. */
export async function applyPlan(
  db: Db,
  serviceId: string,
  name: string,
  d: DesiredPlan,
  pos: number,
  ex: PlanRecord | undefined,
  metrics: Map<string, string>,
  state: TenantState | null,
  log: ChangeLog,
  features: Map<string, string>,
  cat: CatalogState | null,
): Promise<string> {
  const row = {
    name: d.name,
    state: d.state,
    monthly_fee: d.monthlyFee,
    setup_fee: d.setupFee,
    trial_days: d.trialDays,
    position: pos,
    approval_required: d.approvalRequired ? 1 : 0,
    is_default: d.isDefault ? 1 : 0,
  };
  const wantFeatures = d.features.map((f) => features.get(f)!);
  let id: string;
  if (!ex) {
    id = newId();
    await db
      .insertInto('plans')
      .values({ id, service_id: serviceId, system_name: d.systemName, ...row })
      .execute();
    log.add({ action: 'create', kind: 'plan', name });
  } else {
    id = ex.id;
    const flags = cat?.planFlags.get(ex.id);
    const haveFeatures = cat?.planFeatures.get(ex.id) ?? [];
    const fields = changedFields({
      name: [d.name, ex.name],
      state: [d.state, ex.state],
      'pricing.monthly_fee': [d.monthlyFee, ex.monthlyFee],
      'pricing.setup_fee': [d.setupFee, ex.setupFee],
      'pricing.trial_days': [d.trialDays, ex.trialDays],
      position: [pos, ex.position],
      approval_required: [d.approvalRequired, flags?.approvalRequired ?? false],
      default: [d.isDefault, flags?.isDefault ?? false],
      features: [[...wantFeatures].sort(), [...haveFeatures].sort()],
    });
    if (fields.some((f) => f !== 'features'))
      await db.updateTable('plans').set(row).where('id', '=', id).execute();
    if (fields.length > 0) log.add({ action: 'update', kind: 'plan', name, fields });
  }
  await syncPlanFeatures(db, id, wantFeatures, ex ? (cat?.planFeatures.get(ex.id) ?? []) : []);
  await applyLimits(
    db,
    id,
    name,
    d,
    metrics,
    ex ? (state?.usageLimits ?? []).filter((l) => l.planId === ex.id) : [],
    log,
  );
  await applyPricing(
    db,
    id,
    name,
    d,
    metrics,
    ex ? (state?.pricingRules ?? []).filter((r) => r.planId === ex.id) : [],
    log,
  );
  return id;
}

/** A plan's features are a set of links; a deleted feature's links went with it (cascade). */
async function syncPlanFeatures(
  db: Db,
  planId: string,
  want: readonly string[],
  have: readonly string[],
): Promise<void> {
  const gone = have.filter((f) => !want.includes(f));
  const added = want.filter((f) => !have.includes(f));
  if (gone.length > 0)
    await db
      .deleteFrom('plan_features')
      .where('plan_id', '=', planId)
      .where('feature_id', 'in', gone)
      .execute();
  if (added.length > 0)
    await db
      .insertInto('plan_features')
      .values(added.map((feature_id) => ({ plan_id: planId, feature_id })))
      .execute();
}

async function applyLimits(
  db: Db,
  planId: string,
  planName: string,
  d: DesiredPlan,
  metrics: Map<string, string>,
  have: TenantState['usageLimits'],
  log: ChangeLog,
): Promise<void> {
  const metricName = new Map([...metrics].map(([n, id]) => [id, n]));
  const haveBy = new Map(have.map((l) => [`${l.metricId}\n${l.period}`, l]));
  const seen = new Set<string>();
  for (const l of d.limits) {
    const metricId = metrics.get(l.metric)!;
    const key = `${metricId}\n${l.period}`;
    seen.add(key);
    const ex = haveBy.get(key);
    const name = `${planName}/limits/${l.metric}/${l.period}`;
    if (!ex) {
      await db
        .insertInto('usage_limits')
        .values({ plan_id: planId, metric_id: metricId, period: l.period, max_value: l.max })
        .execute();
      log.add({ action: 'create', kind: 'usage_limit', name });
    } else if (ex.maxValue !== l.max) {
      await db
        .updateTable('usage_limits')
        .set({ max_value: l.max })
        .where('plan_id', '=', planId)
        .where('metric_id', '=', metricId)
        .where('period', '=', l.period)
        .execute();
      log.add({ action: 'update', kind: 'usage_limit', name, fields: ['max'] });
    }
  }
  for (const [key, ex] of haveBy) {
    if (seen.has(key)) continue;
    await db
      .deleteFrom('usage_limits')
      .where('plan_id', '=', planId)
      .where('metric_id', '=', ex.metricId)
      .where('period', '=', ex.period)
      .execute();
    // A limit on a metric being deleted has no name in the file any more; the metric id stands in.
    const metric = metricName.get(ex.metricId) ?? ex.metricId;
    log.add({ action: 'delete', kind: 'usage_limit', name: `${planName}/limits/${metric}/${ex.period}` });
  }
}

/** Pricing rules are an ordered list, like mapping rules. */
async function applyPricing(
  db: Db,
  planId: string,
  planName: string,
  d: DesiredPlan,
  metrics: Map<string, string>,
  have: TenantState['pricingRules'],
  log: ChangeLog,
): Promise<void> {
  for (const [pos, r] of d.pricing.entries()) {
    const row = {
      metric_id: metrics.get(r.metric)!,
      min_units: r.min,
      max_units: r.max,
      price_per_unit: r.price,
      position: pos,
    };
    const ex = have[pos];
    const name = `${planName}/pricing/rules[${pos}]`;
    if (!ex) {
      await db
        .insertInto('pricing_rules')
        .values({ id: newId(), plan_id: planId, ...row })
        .execute();
      log.add({ action: 'create', kind: 'pricing_rule', name });
      continue;
    }
    const fields = changedFields({
      metric: [row.metric_id, ex.metricId],
      from: [r.min, ex.minUnits],
      to: [r.max, ex.maxUnits],
      price_per_unit: [r.price, ex.pricePerUnit],
      position: [pos, ex.position],
    });
    if (fields.length === 0) continue;
    await db.updateTable('pricing_rules').set(row).where('id', '=', ex.id).execute();
    log.add({ action: 'update', kind: 'pricing_rule', name, fields });
  }
  for (const [pos, ex] of have.entries()) {
    if (pos < d.pricing.length) continue;
    await db.deleteFrom('pricing_rules').where('id', '=', ex.id).execute();
    log.add({ action: 'delete', kind: 'pricing_rule', name: `${planName}/pricing/rules[${pos}]` });
  }
}
