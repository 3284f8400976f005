/** Admin API: a plan's usage limits (one per metric and period) and pricing rules (no overlapping ranges). */
import type { Selectable } from 'kysely';
import { PERIODS } from '../../../domain/model.js';
import { newId } from '../../../store/sql/repo/ids.js';
import { num } from '../../../store/sql/repo/records.js';
import type { PricingRulesTable, UsageLimitsTable } from '../../../store/sql/schema-config.js';
import { requireTenant } from '../../auth.js';
import { commitChange, updateChanges } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import {
  badField,
  body,
  conflict,
  type Db,
  DECIMAL,
  ID,
  listQuery,
  metricOfService,
  nextPosition,
  ownChild,
  ownPlan,
  pageOf,
  params,
  pathParams,
  posKey,
  renumber,
} from './common.js';

type P = { service_id: string; plan_id: string; limit_id: string; rule_id: string };
const plansBase = '/services/:service_id/application_plans/:plan_id';
const tags = ['application plans'];

// ---- usage limits ----------------------------------------------------------------------------

const LIMIT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'plan_id', 'metric_id', 'period', 'value'],
  properties: {
    id: { type: 'string', description: '`<metric_id>.<period>`' },
    plan_id: { type: 'string' },
    metric_id: { type: 'string' },
    period: { type: 'string', enum: [...PERIODS] },
    value: { type: 'integer', minimum: 0 },
  },
};
const PERIOD = { type: 'string', enum: [...PERIODS] };
const VALUE = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

type LimitRow = Selectable<UsageLimitsTable>;
const limitId = (metricId: string, period: string) => `${metricId}.${period}`;
const limitRepr = (r: LimitRow) => ({
  id: limitId(r.metric_id, r.period),
  plan_id: r.plan_id,
  metric_id: r.metric_id,
  period: r.period,
  value: num(r.max_value),
});

async function ownLimit(db: Db, planId: string, id: string): Promise<LimitRow> {
  const dot = id.lastIndexOf('.');
  const r =
    dot > 0
      ? await db
          .selectFrom('usage_limits')
          .selectAll()
          .where('plan_id', '=', planId)
          .where('metric_id', '=', id.slice(0, dot))
          .where('period', '=', id.slice(dot + 1))
          .executeTakeFirst()
      : undefined;
  if (!r) throw new AdminError('not_found', `limit ${id} not found`);
  return r;
}

const limitWhere = (planId: string, r: { metric_id: string; period: string }) => ({
  plan_id: planId,
  metric_id: r.metric_id,
  period: r.period,
});

// ---- pricing rules ---------------------------------------------------------------------------

const RULE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'plan_id', 'metric_id', 'from', 'to', 'price_per_unit'],
  properties: {
    id: { type: 'string' },
    plan_id: { type: 'string' },
    metric_id: { type: 'string' },
    from: { type: 'integer', minimum: 1 },
    to: { type: ['integer', 'null'], minimum: 1 },
    price_per_unit: { type: 'string' },
  },
};
const RULE_FIELDS: Record<string, JsonSchema> = {
  metric_id: ID,
  from: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  to: { type: ['integer', 'null'], minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  price_per_unit: DECIMAL,
};
type RuleRow = Selectable<PricingRulesTable>;
const ruleRepr = (r: RuleRow) => ({
  id: r.id,
  plan_id: r.plan_id,
  metric_id: r.metric_id,
  from: num(r.min_units),
  to: r.max_units === null ? null : num(r.max_units),
  price_per_unit: r.price_per_unit,
});

function ownRule(db: Db, planId: string, id: string): Promise<RuleRow> {
  return ownChild(db, 'pricing_rules', { column: 'plan_id', id: planId }, id, 'pricing rule');
}

/** Throws conflict when [from, to] (to null = unbounded) overlaps another rule of the metric on the plan. */
async function checkRange(
  db: Db,
  planId: string,
  metricId: string,
  from: number,
  to: number | null,
  self: string | null,
) {
  if (to !== null && to < from) throw badField('to', 'must not be less than from');
  const others = await db
    .selectFrom('pricing_rules')
    .selectAll()
    .where('plan_id', '=', planId)
    .where('metric_id', '=', metricId)
    .execute();
  for (const o of others) {
    if (o.id === self) continue;
    const of = num(o.min_units);
    const ot = o.max_units === null ? Number.POSITIVE_INFINITY : num(o.max_units);
    if (from <= ot && of <= (to ?? Number.POSITIVE_INFINITY))
      throw conflict(`the range overlaps pricing rule ${o.id} (${of}..${o.max_units === null ? '∞' : ot})`);
  }
}

export const PLAN_RULE_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: `${plansBase}/limits`,
    operationId: 'listUsageLimits',
    summary: "List a plan's usage limits",
    tags,
    scope: 'management',
    write: false,
    params: pathParams('service_id', 'plan_id'),
    query: listQuery({ metric_id: ID }),
    response: { status: 200, schema: pageSchema(LIMIT_SCHEMA) },
    async handler(ctx, principal, req) {
      const { service_id, plan_id } = params<P>(req);
      await ownPlan(ctx.db, principal, service_id, plan_id);
      const q = req.query as { limit: number; cursor?: string; metric_id?: string };
      let sel = ctx.db.selectFrom('usage_limits').selectAll().where('plan_id', '=', plan_id);
      if (q.metric_id) sel = sel.where('metric_id', '=', q.metric_id);
      const key = (r: LimitRow) => `${r.metric_id}|${PERIODS.indexOf(r.period as 'day')}`;
      return pageOf(await sel.execute(), key, q, limitRepr);
    },
  },
  {
    method: 'POST',
    path: `${plansBase}/limits`,
    operationId: 'createUsageLimit',
    summary: 'Create a usage limit (one per metric and period)',
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'plan_id'),
    body: body({ metric_id: ID, period: PERIOD, value: VALUE }, ['metric_id', 'period', 'value']),
    response: { status: 201, schema: LIMIT_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id } = params<P>(req);
      const b = req.body as { metric_id: string; period: string; value: number };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownPlan(trx, principal, service_id, plan_id);
        await metricOfService(trx, service_id, b.metric_id);
        const dup = await trx
          .selectFrom('usage_limits')
          .select('plan_id')
          .where('plan_id', '=', plan_id)
          .where('metric_id', '=', b.metric_id)
          .where('period', '=', b.period)
          .executeTakeFirst();
        if (dup) throw conflict(`the plan already has a ${b.period} limit on this metric`);
        await trx
          .insertInto('usage_limits')
          .values({ ...limitWhere(plan_id, b), max_value: b.value })
          .execute();
        const after = limitRepr(await ownLimit(trx, plan_id, limitId(b.metric_id, b.period)));
        return {
          changes: [
            { action: 'limit.created', objectType: 'limit', objectId: after.id, before: null, after },
          ],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'GET',
    path: `${plansBase}/limits/:limit_id`,
    operationId: 'getUsageLimit',
    summary: 'Get a usage limit',
    tags,
    scope: 'management',
    write: false,
    params: pathParams('service_id', 'plan_id', 'limit_id'),
    response: { status: 200, schema: LIMIT_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id, limit_id } = params<P>(req);
      await ownPlan(ctx.db, principal, service_id, plan_id);
      return withEtag(reply, limitRepr(await ownLimit(ctx.db, plan_id, limit_id)));
    },
  },
  {
    method: 'PATCH',
    path: `${plansBase}/limits/:limit_id`,
    operationId: 'updateUsageLimit',
    summary: "Change a usage limit's value",
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'plan_id', 'limit_id'),
    body: body({ value: VALUE }, ['value']),
    response: { status: 200, schema: LIMIT_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id, limit_id } = params<P>(req);
      const { value } = req.body as { value: number };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownPlan(trx, principal, service_id, plan_id);
        const cur = await ownLimit(trx, plan_id, limit_id);
        const before = limitRepr(cur);
        checkIfMatch(req, before);
        if (before.value === value) return { changes: [], result: before };
        await trx
          .updateTable('usage_limits')
          .set({ max_value: value })
          .where('plan_id', '=', plan_id)
          .where('metric_id', '=', cur.metric_id)
          .where('period', '=', cur.period)
          .execute();
        const after = { ...before, value };
        return {
          changes: [{ action: 'limit.updated', objectType: 'limit', objectId: limit_id, before, after }],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'DELETE',
    path: `${plansBase}/limits/:limit_id`,
    operationId: 'deleteUsageLimit',
    summary: 'Delete a usage limit',
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'plan_id', 'limit_id'),
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id, limit_id } = params<P>(req);
      await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownPlan(trx, principal, service_id, plan_id);
        const cur = await ownLimit(trx, plan_id, limit_id);
        const before = limitRepr(cur);
        checkIfMatch(req, before);
        await trx
          .deleteFrom('usage_limits')
          .where('plan_id', '=', plan_id)
          .where('metric_id', '=', cur.metric_id)
          .where('period', '=', cur.period)
          .execute();
        return {
          changes: [
            { action: 'limit.deleted', objectType: 'limit', objectId: limit_id, before, after: null },
          ],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
  {
    method: 'GET',
    path: `${plansBase}/pricing_rules`,
    operationId: 'listPricingRules',
    summary: "List a plan's pricing rules",
    tags,
    scope: 'management',
    write: false,
    params: pathParams('service_id', 'plan_id'),
    query: listQuery({ metric_id: ID }),
    response: { status: 200, schema: pageSchema(RULE_SCHEMA) },
    async handler(ctx, principal, req) {
      const { service_id, plan_id } = params<P>(req);
      await ownPlan(ctx.db, principal, service_id, plan_id);
      const q = req.query as { limit: number; cursor?: string; metric_id?: string };
      let sel = ctx.db.selectFrom('pricing_rules').selectAll().where('plan_id', '=', plan_id);
      if (q.metric_id) sel = sel.where('metric_id', '=', q.metric_id);
      return pageOf(await sel.execute(), (r) => posKey(r.position, r.id), q, ruleRepr);
    },
  },
  {
    method: 'POST',
    path: `${plansBase}/pricing_rules`,
    operationId: 'createPricingRule',
    summary: 'Create a pricing rule: price_per_unit for units from..to (to null = no end) of a metric',
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'plan_id'),
    body: body(RULE_FIELDS, ['metric_id', 'price_per_unit']),
    example: { body: { metric_id: 'hits-metric-id', from: 1, to: 1000, price_per_unit: '0.01' } },
    response: { status: 201, schema: RULE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id } = params<P>(req);
      const b = req.body as { metric_id: string; from?: number; to?: number | null; price_per_unit: string };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownPlan(trx, principal, service_id, plan_id);
        await metricOfService(trx, service_id, b.metric_id);
        const from = b.from ?? 1;
        const to = b.to ?? null;
        await checkRange(trx, plan_id, b.metric_id, from, to, null);
        const id = newId();
        await trx
          .insertInto('pricing_rules')
          .values({
            id,
            plan_id,
            metric_id: b.metric_id,
            min_units: from,
            max_units: to,
            price_per_unit: b.price_per_unit,
            position: await nextPosition(trx, 'pricing_rules', 'plan_id', plan_id),
          })
          .execute();
        const after = ruleRepr(await ownRule(trx, plan_id, id));
        return {
          changes: [
            { action: 'pricing_rule.created', objectType: 'pricing_rule', objectId: id, before: null, after },
          ],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'GET',
    path: `${plansBase}/pricing_rules/:rule_id`,
    operationId: 'getPricingRule',
    summary: 'Get a pricing rule',
    tags,
    scope: 'management',
    write: false,
    params: pathParams('service_id', 'plan_id', 'rule_id'),
    response: { status: 200, schema: RULE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id, rule_id } = params<P>(req);
      await ownPlan(ctx.db, principal, service_id, plan_id);
      return withEtag(reply, ruleRepr(await ownRule(ctx.db, plan_id, rule_id)));
    },
  },
  {
    method: 'PATCH',
    path: `${plansBase}/pricing_rules/:rule_id`,
    operationId: 'updatePricingRule',
    summary: 'Update a pricing rule',
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'plan_id', 'rule_id'),
    body: body(RULE_FIELDS),
    response: { status: 200, schema: RULE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id, rule_id } = params<P>(req);
      const b = req.body as {
        metric_id?: string;
        from?: number;
        to?: number | null;
        price_per_unit?: string;
      };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownPlan(trx, principal, service_id, plan_id);
        const before = ruleRepr(await ownRule(trx, plan_id, rule_id));
        checkIfMatch(req, before);
        const next = {
          metric_id: b.metric_id ?? before.metric_id,
          from: b.from ?? before.from,
          to: b.to === undefined ? before.to : b.to,
          price_per_unit: b.price_per_unit ?? before.price_per_unit,
        };
        if (b.metric_id !== undefined) await metricOfService(trx, service_id, b.metric_id);
        await checkRange(trx, plan_id, next.metric_id, next.from, next.to, rule_id);
        await trx
          .updateTable('pricing_rules')
          .set({
            metric_id: next.metric_id,
            min_units: next.from,
            max_units: next.to,
            price_per_unit: next.price_per_unit,
          })
          .where('id', '=', rule_id)
          .execute();
        const after = ruleRepr(await ownRule(trx, plan_id, rule_id));
        return { changes: updateChanges('pricing_rule', rule_id, before, after), result: after };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'DELETE',
    path: `${plansBase}/pricing_rules/:rule_id`,
    operationId: 'deletePricingRule',
    summary: 'Delete a pricing rule',
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'plan_id', 'rule_id'),
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id, rule_id } = params<P>(req);
      await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownPlan(trx, principal, service_id, plan_id);
        const before = ruleRepr(await ownRule(trx, plan_id, rule_id));
        checkIfMatch(req, before);
        await trx.deleteFrom('pricing_rules').where('id', '=', rule_id).execute();
        await renumber(trx, 'pricing_rules', 'plan_id', plan_id);
        return {
          changes: [
            {
              action: 'pricing_rule.deleted',
              objectType: 'pricing_rule',
              objectId: rule_id,
              before,
              after: null,
            },
          ],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
];
