/** Admin API: a service's features, and enabling them on its plans. */
import type { Selectable } from 'kysely';
import { newId } from '../../../store/sql/repo/ids.js';
import type { FeaturesTable } from '../../../store/sql/schema-catalog.js';
import { requireTenant } from '../../auth.js';
import { commitChange, updateChanges } from '../../change.js';
import { checkIfMatch, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import {
  body,
  conflict,
  type Db,
  listQuery,
  nextPosition,
  ownChild,
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
import { planRepr } from './plans.js';

const FEATURE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'service_id', 'system_name', 'name', 'description'],
  properties: {
    id: { type: 'string' },
    service_id: { type: 'string' },
    system_name: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
  },
};
const FIELDS: Record<string, JsonSchema> = {
  name: TEXT,
  description: { type: ['string', 'null'], maxLength: 10000 },
};

type Row = Selectable<FeaturesTable>;
type P = { service_id: string; feature_id: string; plan_id: string };
const repr = (r: Row) => ({
  id: r.id,
  service_id: r.service_id,
  system_name: r.system_name,
  name: r.name,
  description: r.description,
});

function ownFeature(db: Db, serviceId: string, id: string): Promise<Row> {
  return ownChild(db, 'features', { column: 'service_id', id: serviceId }, id, 'feature');
}

const base = '/services/:service_id/features';
const one = pathParams('service_id', 'feature_id');
const tags = ['features'];

/** Enables or disables a feature on a plan; answers the plan. */
function planFeatureRoute(method: 'PUT' | 'DELETE'): AdminRoute {
  const enable = method === 'PUT';
  return {
    method,
    path: '/services/:service_id/application_plans/:plan_id/features/:feature_id',
    operationId: enable ? 'enablePlanFeature' : 'disablePlanFeature',
    summary: enable ? 'Enable a feature on a plan' : 'Disable a feature on a plan',
    tags: ['application plans'],
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'plan_id', 'feature_id'),
    response: { status: 200, schema: { type: 'object', description: 'the plan' } },
    async handler(ctx, principal, req, reply) {
      const { service_id, plan_id, feature_id } = params<P>(req);
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownPlan(trx, principal, service_id, plan_id);
        await ownFeature(trx, service_id, feature_id);
        const before = await planRepr(trx, principal, service_id, plan_id);
        const has = before.features.includes(feature_id);
        if (has === enable) return { changes: [], result: before };
        if (enable) await trx.insertInto('plan_features').values({ plan_id, feature_id }).execute();
        else
          await trx
            .deleteFrom('plan_features')
            .where('plan_id', '=', plan_id)
            .where('feature_id', '=', feature_id)
            .execute();
        const after = await planRepr(trx, principal, service_id, plan_id);
        const action = enable ? 'plan.feature_enabled' : 'plan.feature_disabled';
        return { changes: [{ action, objectType: 'plan', objectId: plan_id, before, after }], result: after };
      });
      return withEtag(reply, out);
    },
  };
}

export const FEATURE_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: base,
    operationId: 'listFeatures',
    summary: "List a service's features",
    tags,
    scope: 'management',
    write: false,
    params: pathParams('service_id'),
    query: listQuery(),
    response: { status: 200, schema: pageSchema(FEATURE_SCHEMA) },
    async handler(ctx, principal, req) {
      const { service_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      const rows = await ctx.db
        .selectFrom('features')
        .selectAll()
        .where('service_id', '=', service_id)
        .execute();
      return pageOf(rows, (r) => posKey(r.position, r.id), req.query as { limit: number }, repr);
    },
  },
  {
    method: 'POST',
    path: base,
    operationId: 'createFeature',
    summary: 'Create a feature',
    tags,
    scope: 'management',
    write: true,
    params: pathParams('service_id'),
    body: body({ system_name: SYSTEM_NAME, ...FIELDS }, ['system_name']),
    response: { status: 201, schema: FEATURE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id } = params<P>(req);
      const b = req.body as { system_name: string; name?: string; description?: string | null };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const dup = await trx
          .selectFrom('features')
          .select('id')
          .where('service_id', '=', service_id)
          .where('system_name', '=', b.system_name)
          .executeTakeFirst();
        if (dup) throw conflict(`a feature with system_name ${b.system_name} exists in this service`);
        const id = newId();
        await trx
          .insertInto('features')
          .values({
            id,
            service_id,
            system_name: b.system_name,
            name: b.name ?? b.system_name,
            description: b.description ?? null,
            position: await nextPosition(trx, 'features', 'service_id', service_id),
          })
          .execute();
        const after = repr(await ownFeature(trx, service_id, id));
        return {
          changes: [{ action: 'feature.created', objectType: 'feature', objectId: id, before: null, after }],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'GET',
    path: `${base}/:feature_id`,
    operationId: 'getFeature',
    summary: 'Get a feature',
    tags,
    scope: 'management',
    write: false,
    params: one,
    response: { status: 200, schema: FEATURE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, feature_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      return withEtag(reply, repr(await ownFeature(ctx.db, service_id, feature_id)));
    },
  },
  {
    method: 'PATCH',
    path: `${base}/:feature_id`,
    operationId: 'updateFeature',
    summary: 'Update a feature (system_name cannot change)',
    tags,
    scope: 'management',
    write: true,
    params: one,
    body: body(FIELDS),
    response: { status: 200, schema: FEATURE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, feature_id } = params<P>(req);
      const b = req.body as { name?: string; description?: string | null };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const before = repr(await ownFeature(trx, service_id, feature_id));
        checkIfMatch(req, before);
        const set = {
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.description !== undefined ? { description: b.description } : {}),
        };
        if (Object.keys(set).length > 0)
          await trx.updateTable('features').set(set).where('id', '=', feature_id).execute();
        const after = repr(await ownFeature(trx, service_id, feature_id));
        return { changes: updateChanges('feature', feature_id, before, after), result: after };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'DELETE',
    path: `${base}/:feature_id`,
    operationId: 'deleteFeature',
    summary: 'Delete a feature (plans that include it lose it)',
    tags,
    scope: 'management',
    write: true,
    params: one,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { service_id, feature_id } = params<P>(req);
      await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const before = repr(await ownFeature(trx, service_id, feature_id));
        checkIfMatch(req, before);
        await trx.deleteFrom('features').where('id', '=', feature_id).execute();
        await renumber(trx, 'features', 'service_id', service_id);
        return {
          changes: [
            { action: 'feature.deleted', objectType: 'feature', objectId: feature_id, before, after: null },
          ],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
  planFeatureRoute('PUT'),
  planFeatureRoute('DELETE'),
];
