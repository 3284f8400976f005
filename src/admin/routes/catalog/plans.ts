/** Admin API: a service's application plans: CRUD, the default plan, and copies. */
import type { Selectable, Transaction } from 'kysely';
import { PLAN_STATES } from '../../../config/schema.js';
import { newId } from '../../../store/sql/repo/ids.js';
import type { DB } from '../../../store/sql/schema.js';
import type { PlansTable } from '../../../store/sql/schema-config.js';
import { requireTenant } from '../../auth.js';
import { commitChange, updateChanges } from '../../change.js';
import { checkIfMatch, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import {
  body,
  conflict,
  type Db,
  DECIMAL,
  listQuery,
  nextPosition,
  ownPlan,
  ownService,
  pageOf,
  params,
  pathParams,
  posKey,
  renumber,
  SYSTEM_NAME,
  TEXT,
} from './common.js';

const FIELDS: Record<string, JsonSchema> = {
  name: TEXT,
  state: { type: 'string', enum: [...PLAN_STATES] },
  approval_required: { type: 'boolean' },
  trial_days: { type: 'integer', minimum: 0, maximum: 3650 },
  setup_fee: DECIMAL,
  monthly_fee: DECIMAL,
};
export const PLAN_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'service_id', 'system_name', 'name', 'state', 'default', 'features'],
  properties: {
    id: { type: 'string' },
    service_id: { type: 'string' },
    system_name: { type: 'string' },
    ...FIELDS,
    default: { type: 'boolean' },
    features: { type: 'array', items: { type: 'string' }, description: 'ids of the enabled features' },
  },
};

type Row = Selectable<PlansTable>;
type P = { service_id: string; plan_id: string };
type B = {
  system_name?: string;
  name?: string;
  state?: string;
  approval_required?: boolean;
  trial_days?: number;
  setup_fee?: string;
  monthly_fee?: string;
};

function repr(r: Row, features: string[]) {
  return {
    id: r.id,
    service_id: r.service_id,
    system_name: r.system_name,
    name: r.name,
    state: r.state,
    approval_required: r.approval_required === 1,
    default: r.is_default === 1,
    trial_days: r.trial_days,
    setup_fee: r.setup_fee,
    monthly_fee: r.monthly_fee,
    features,
  };
}

async function featuresOf(db: Db, planId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('plan_features')
    .select('feature_id')
    .where('plan_id', '=', planId)
    .orderBy('feature_id')
    .execute();
  return rows.map((r) => r.feature_id);
}

/** The representation of a plan of the caller's service (not_found otherwise). */
export async function planRepr(
  db: Db,
  principal: Parameters<typeof ownPlan>[1],
  serviceId: string,
  planId: string,
) {
  const r = await ownPlan(db, principal, serviceId, planId);
  return repr(r, await featuresOf(db, planId));
}

async function systemNameFree(trx: Transaction<DB>, serviceId: string, systemName: string) {
  const dup = await trx
    .selectFrom('plans')
    .select('id')
    .where('service_id', '=', serviceId)
    .where('system_name', '=', systemName)
    .executeTakeFirst();
  if (dup) throw conflict(`a plan with system_name ${systemName} exists in this service`);
}

const one = pathParams('service_id', 'plan_id');
const base = '/services/:service_id/application_plans';
const tags = ['application plans'];

export const PLAN_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: base,
    operationId: 'listApplicationPlans',
    summary: "List a service's application plans",
    tags,
    scope: 'management',
    write: false,
    params: pathParams('service_id'),
    query: listQuery({ state: { type: 'string', enum: [...PLAN_STATES] } }),
    response: { status: 200, schema: pageSchema(PLAN_SCHEMA) },
    async handler(ctx, principal, req) {
      const { service_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      const q = req.query as { limit: number; cursor?: string; state?: string };
      let sel = ctx.db.selectFrom('plans').selectAll().where('service_id', '=', service_id);
      if (q.state) sel = sel.where('state', '=', q.state);
      const rows = await sel.execute();
      const links = await ctx.db
        .selectFrom('plan_features')
        .innerJoin('plans', 'plans.id', 'plan_features.plan_id')
        .select(['plan_features.plan_id', 'plan_features.feature_id'])
        .where('plans.service_id', '=', service_id)
        .orderBy('plan_features.feature_id')
        .execute();
      const fs = (id: string) => links.filter((l) => l.plan_id === id).map((l) => l.feature_id);
      return pageOf(
        rows,
        (r) => posKey(r.position, r.id),
        q,
        (r) => repr(r, fs(r.id)),
      );
    },
  },
  {
    method: 'POST',
    path: base,
    operationId: 'createApplicationPlan',
    summary: 'Create an application plan',
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id'),
    body: body({ system_name: SYSTEM_NAME, ...FIELDS }, ['system_name']),
    response: { status: 201, schema: PLAN_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id } = params<P>(req);
      const b = req.body as B & { system_name: string };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        await systemNameFree(trx, service_id, b.system_name);
        const id = newId();
        await trx
          .insertInto('plans')
          .values({
            id,
            service_id,
            system_name: b.system_name,
            name: b.name ?? b.system_name,
            state: b.state ?? 'published',
            approval_required: b.approval_required ? 1 : 0,
            trial_days: b.trial_days ?? 0,
            setup_fee: b.setup_fee ?? '0',
            monthly_fee: b.monthly_fee ?? '0',
            position: await nextPosition(trx, 'plans', 'service_id', service_id),
          })
          .execute();
        const after = await planRepr(trx, principal, service_id, id);
        return {
          changes: [{ action: 'plan.created', objectType: 'plan', objectId: id, before: null, after }],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'GET',
    path: `${base}/:plan_id`,
    operationId: 'getApplicationPlan',
    summary: 'Get an application plan',
    tags,
    scope: 'management',
    write: false,
    params: one,
    response: { status: 200, schema: PLAN_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id } = params<P>(req);
      return withEtag(reply, await planRepr(ctx.db, principal, service_id, plan_id));
    },
  },
  {
    method: 'PATCH',
    path: `${base}/:plan_id`,
    operationId: 'updateApplicationPlan',
    summary: 'Update an application plan (system_name cannot change)',
    tags,
    scope: 'management',
    write: true,
    params: one,
    body: body(FIELDS),
    response: { status: 200, schema: PLAN_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id } = params<P>(req);
      const b = req.body as B;
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        const before = await planRepr(trx, principal, service_id, plan_id);
        checkIfMatch(req, before);
        const set = {
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.state !== undefined ? { state: b.state } : {}),
          ...(b.approval_required !== undefined ? { approval_required: b.approval_required ? 1 : 0 } : {}),
          ...(b.trial_days !== undefined ? { trial_days: b.trial_days } : {}),
          ...(b.setup_fee !== undefined ? { setup_fee: b.setup_fee } : {}),
          ...(b.monthly_fee !== undefined ? { monthly_fee: b.monthly_fee } : {}),
        };
        if (Object.keys(set).length > 0)
          await trx.updateTable('plans').set(set).where('id', '=', plan_id).execute();
        const after = await planRepr(trx, principal, service_id, plan_id);
        return { changes: updateChanges('plan', plan_id, before, after), result: after };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'DELETE',
    path: `${base}/:plan_id`,
    operationId: 'deleteApplicationPlan',
    summary: 'Delete an application plan that has no applications',
    tags,
    scope: 'management',
    write: true,
    params: one,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id } = params<P>(req);
      await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        const before = await planRepr(trx, principal, service_id, plan_id);
        checkIfMatch(req, before);
        const apps = await trx
          .selectFrom('applications')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('plan_id', '=', plan_id)
          .executeTakeFirst();
        const n = Number(apps?.n ?? 0);
        if (n > 0) throw conflict(`the plan has ${n} application(s): move them to another plan first`);
        await trx.deleteFrom('plans').where('id', '=', plan_id).execute();
        await renumber(trx, 'plans', 'service_id', service_id);
        return {
          changes: [{ action: 'plan.deleted', objectType: 'plan', objectId: plan_id, before, after: null }],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
  {
    method: 'POST',
    path: `${base}/:plan_id/default`,
    operationId: 'makeDefaultApplicationPlan',
    summary: "Make the plan its service's default",
    tags,
    scope: 'management',
    write: true,
    params: one,
    response: { status: 200, schema: PLAN_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id } = params<P>(req);
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        const before = await planRepr(trx, principal, service_id, plan_id);
        if (before.default) return { changes: [], result: before };
        const old = await trx
          .selectFrom('plans')
          .select('id')
          .where('service_id', '=', service_id)
          .where('is_default', '=', 1)
          .execute();
        await trx.updateTable('plans').set({ is_default: 0 }).where('service_id', '=', service_id).execute();
        await trx.updateTable('plans').set({ is_default: 1 }).where('id', '=', plan_id).execute();
        const after = await planRepr(trx, principal, service_id, plan_id);
        return {
          changes: [
            { action: 'plan.made_default', objectType: 'plan', objectId: plan_id, before, after },
            ...old.map((o) => ({
              action: 'plan.updated',
              objectType: 'plan',
              objectId: o.id,
              before: { default: true },
              after: { default: false },
            })),
          ],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'POST',
    path: `${base}/:plan_id/copy`,
    operationId: 'copyApplicationPlan',
    summary: 'Copy a plan with its limits, pricing rules and features under a new system_name',
    tags,
    scope: 'management',
    write: true,
    params: one,
    body: body({ system_name: SYSTEM_NAME, name: TEXT }, ['system_name']),
    response: { status: 201, schema: PLAN_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id } = params<P>(req);
      const b = req.body as { system_name: string; name?: string };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        const src = await ownPlan(trx, principal, service_id, plan_id);
        await systemNameFree(trx, service_id, b.system_name);
        const id = newId();
        await trx
          .insertInto('plans')
          .values({
            id,
            service_id,
            system_name: b.system_name,
            name: b.name ?? `${src.name} (copy)`,
            state: src.state,
            approval_required: src.approval_required,
            trial_days: src.trial_days,
            setup_fee: src.setup_fee,
            monthly_fee: src.monthly_fee,
            is_default: 0,
            position: await nextPosition(trx, 'plans', 'service_id', service_id),
          })
          .execute();
        const limits = await trx
          .selectFrom('usage_limits')
          .selectAll()
          .where('plan_id', '=', plan_id)
          .execute();
        if (limits.length > 0)
          await trx
            .insertInto('usage_limits')
            .values(limits.map((l) => ({ ...l, plan_id: id, max_value: Number(l.max_value) })))
            .execute();
        const rules = await trx
          .selectFrom('pricing_rules')
          .selectAll()
          .where('plan_id', '=', plan_id)
          .execute();
        if (rules.length > 0)
          await trx
            .insertInto('pricing_rules')
            .values(
              rules.map((r) => ({
                ...r,
                id: newId(),
                plan_id: id,
                min_units: Number(r.min_units),
                max_units: r.max_units === null ? null : Number(r.max_units),
              })),
            )
            .execute();
        const features = await featuresOf(trx, plan_id);
        if (features.length > 0)
          await trx
            .insertInto('plan_features')
            .values(features.map((feature_id) => ({ plan_id: id, feature_id })))
            .execute();
        const after = await planRepr(trx, principal, service_id, id);
        return {
          changes: [
            {
              action: 'plan.copied',
              objectType: 'plan',
              objectId: id,
              before: null,
              after: { ...after, copied_from: plan_id },
            },
          ],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
];
