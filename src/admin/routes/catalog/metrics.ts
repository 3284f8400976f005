/** Admin API: a service's metrics and methods (a method is a metric with a parent_id). */
import type { Selectable, Transaction } from 'kysely';
import { newId } from '../../../store/sql/repo/ids.js';
import type { DB } from '../../../store/sql/schema.js';
import type { MetricsTable } from '../../../store/sql/schema-config.js';
import { requireTenant } from '../../auth.js';
import { commitChange, updateChanges } from '../../change.js';
import { checkIfMatch, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import {
  badField,
  body,
  conflict,
  type Db,
  FORCE_QUERY,
  ID,
  listQuery,
  metricOfService,
  nextPosition,
  ownChild,
  ownService,
  pageOf,
  params,
  pathParams,
  posKey,
  renumber,
  SYSTEM_NAME,
  TEXT,
} from './common.js';

const METRIC_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'service_id', 'system_name', 'name', 'unit', 'parent_id'],
  properties: {
    id: { type: 'string' },
    service_id: { type: 'string' },
    system_name: { type: 'string' },
    name: { type: 'string' },
    unit: { type: 'string' },
    parent_id: { type: ['string', 'null'] },
  },
};
const FIELDS: Record<string, JsonSchema> = {
  name: TEXT,
  unit: { type: 'string', minLength: 1, maxLength: 100 },
  parent_id: { type: ['string', 'null'], minLength: 1, maxLength: 128 },
};

type Row = Selectable<MetricsTable>;
type P = { service_id: string; metric_id: string };

function repr(r: Row) {
  return {
    id: r.id,
    service_id: r.service_id,
    system_name: r.system_name,
    name: r.friendly_name,
    unit: r.unit,
    parent_id: r.parent_id,
  };
}

function ownMetric(db: Db, serviceId: string, metricId: string): Promise<Row> {
  return ownChild(db, 'metrics', { column: 'service_id', id: serviceId }, metricId, 'metric');
}

/** Throws unless `parentId` is a metric of the service whose ancestors do not include `selfId`. */
async function checkParent(trx: Transaction<DB>, serviceId: string, parentId: string, selfId: string | null) {
  await metricOfService(trx, serviceId, parentId, 'parent_id');
  const all = await trx
    .selectFrom('metrics')
    .select(['id', 'parent_id'])
    .where('service_id', '=', serviceId)
    .execute();
  const parentOf = new Map(all.map((m) => [m.id, m.parent_id]));
  let cur: string | null = parentId;
  for (let steps = 0; cur !== null && steps <= all.length; steps++) {
    if (cur === selfId) throw badField('parent_id', 'would make a cycle of metric parents');
    cur = parentOf.get(cur) ?? null;
  }
}

/** The metric and every metric below it, children after parents. */
async function subtree(trx: Transaction<DB>, serviceId: string, id: string): Promise<string[]> {
  const all = await trx
    .selectFrom('metrics')
    .select(['id', 'parent_id'])
    .where('service_id', '=', serviceId)
    .execute();
  const out = [id];
  for (let i = 0; i < out.length; i++)
    for (const m of all) if (m.parent_id === out[i] && !out.includes(m.id)) out.push(m.id);
  return out;
}

const one = pathParams('service_id', 'metric_id');

export const METRIC_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: '/services/:service_id/metrics',
    operationId: 'listMetrics',
    summary: "List a service's metrics and methods",
    tags: ['metrics'],
    scope: 'management',
    write: false,
    params: pathParams('service_id'),
    query: listQuery({ parent_id: ID }),
    response: { status: 200, schema: pageSchema(METRIC_SCHEMA) },
    async handler(ctx, principal, req) {
      const { service_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      const q = req.query as { limit: number; cursor?: string; parent_id?: string };
      let sel = ctx.db.selectFrom('metrics').selectAll().where('service_id', '=', service_id);
      if (q.parent_id) sel = sel.where('parent_id', '=', q.parent_id);
      return pageOf(await sel.execute(), (r) => posKey(r.position, r.id), q, repr);
    },
  },
  {
    method: 'POST',
    path: '/services/:service_id/metrics',
    operationId: 'createMetric',
    summary: 'Create a metric (or a method, with parent_id)',
    tags: ['metrics'],
    scope: 'management',
    write: true,
    params: pathParams('service_id'),
    body: body({ system_name: SYSTEM_NAME, ...FIELDS }, ['system_name']),
    response: { status: 201, schema: METRIC_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id } = params<P>(req);
      const b = req.body as { system_name: string; name?: string; unit?: string; parent_id?: string | null };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const dup = await trx
          .selectFrom('metrics')
          .select('id')
          .where('service_id', '=', service_id)
          .where('system_name', '=', b.system_name)
          .executeTakeFirst();
        if (dup) throw conflict(`a metric with system_name ${b.system_name} exists in this service`);
        if (b.parent_id) await checkParent(trx, service_id, b.parent_id, null);
        const id = newId();
        await trx
          .insertInto('metrics')
          .values({
            id,
            service_id,
            system_name: b.system_name,
            friendly_name: b.name ?? b.system_name,
            unit: b.unit ?? 'hit',
            parent_id: b.parent_id ?? null,
            position: await nextPosition(trx, 'metrics', 'service_id', service_id),
          })
          .execute();
        const after = repr(await ownMetric(trx, service_id, id));
        return {
          changes: [{ action: 'metric.created', objectType: 'metric', objectId: id, before: null, after }],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'GET',
    path: '/services/:service_id/metrics/:metric_id',
    operationId: 'getMetric',
    summary: 'Get a metric',
    tags: ['metrics'],
    scope: 'management',
    write: false,
    params: one,
    response: { status: 200, schema: METRIC_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, metric_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      return withEtag(reply, repr(await ownMetric(ctx.db, service_id, metric_id)));
    },
  },
  {
    method: 'PATCH',
    path: '/services/:service_id/metrics/:metric_id',
    operationId: 'updateMetric',
    summary: 'Update a metric (system_name cannot change; parent_id null makes it a metric again)',
    tags: ['metrics'],
    scope: 'management',
    write: true,
    params: one,
    body: body(FIELDS),
    response: { status: 200, schema: METRIC_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, metric_id } = params<P>(req);
      const b = req.body as { name?: string; unit?: string; parent_id?: string | null };
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const before = repr(await ownMetric(trx, service_id, metric_id));
        checkIfMatch(req, before);
        if (b.parent_id) await checkParent(trx, service_id, b.parent_id, metric_id);
        await trx
          .updateTable('metrics')
          .set({
            ...(b.name !== undefined ? { friendly_name: b.name } : {}),
            ...(b.unit !== undefined ? { unit: b.unit } : {}),
            ...(b.parent_id !== undefined ? { parent_id: b.parent_id } : {}),
          })
          .where('id', '=', metric_id)
          .execute();
        const after = repr(await ownMetric(trx, service_id, metric_id));
        return { changes: updateChanges('metric', metric_id, before, after), result: after };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'DELETE',
    path: '/services/:service_id/metrics/:metric_id',
    operationId: 'deleteMetric',
    summary:
      'Delete a metric; with ?force=true also its methods and the limits, mapping and pricing rules on them',
    tags: ['metrics'],
    scope: 'management',
    write: true,
    params: one,
    query: FORCE_QUERY,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { service_id, metric_id } = params<P>(req);
      const { force } = req.query as { force: boolean };
      await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const before = repr(await ownMetric(trx, service_id, metric_id));
        checkIfMatch(req, before);
        const ids = await subtree(trx, service_id, metric_id);
        const count = async (t: 'usage_limits' | 'mapping_rules' | 'pricing_rules') =>
          Number(
            (
              await trx
                .selectFrom(t)
                .select((eb) => eb.fn.countAll<number | string>().as('n'))
                .where('metric_id', 'in', ids)
                .executeTakeFirst()
            )?.n ?? 0,
          );
        const uses = [
          ids.length > 1 ? `${ids.length - 1} method(s)` : '',
          (await count('usage_limits')) > 0 ? 'usage limits' : '',
          (await count('mapping_rules')) > 0 ? 'mapping rules' : '',
          (await count('pricing_rules')) > 0 ? 'pricing rules' : '',
        ].filter((s) => s !== '');
        if (uses.length > 0 && !force)
          throw conflict(`the metric has ${uses.join(', ')}: pass ?force=true to delete them with it`);
        // Children first: their parent_id would otherwise be set to null and leave them behind.
        for (const id of ids.reverse()) await trx.deleteFrom('metrics').where('id', '=', id).execute();
        await renumber(trx, 'metrics', 'service_id', service_id);
        return {
          changes: [
            { action: 'metric.deleted', objectType: 'metric', objectId: metric_id, before, after: null },
          ],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
];
