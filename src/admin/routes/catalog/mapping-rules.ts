/** Admin API: a service's mapping rules, an ordered list (`position` 0-based; set it to reorder). */
import type { Selectable } from 'kysely';
import { HTTP_METHODS } from '../../../config/schema.js';
import { newId } from '../../../store/sql/repo/ids.js';
import type { MappingRulesTable } from '../../../store/sql/schema-config.js';
import { requireTenant } from '../../auth.js';
import { commitChange, updateChanges } from '../../change.js';
import { checkIfMatch, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import {
  body,
  type Db,
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
} from './common.js';

const RULE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'service_id', 'method', 'pattern', 'metric_id', 'delta', 'last', 'position'],
  properties: {
    id: { type: 'string' },
    service_id: { type: 'string' },
    method: { type: 'string', enum: [...HTTP_METHODS] },
    pattern: { type: 'string' },
    metric_id: { type: 'string' },
    delta: { type: 'integer' },
    last: { type: 'boolean' },
    position: { type: 'integer' },
  },
};
const FIELDS: Record<string, JsonSchema> = {
  method: { type: 'string', enum: [...HTTP_METHODS] },
  pattern: { type: 'string', pattern: '^/', maxLength: 2000 },
  metric_id: ID,
  delta: { type: 'integer', minimum: 1 },
  last: { type: 'boolean' },
  position: { type: 'integer', minimum: 0 },
};

type Row = Selectable<MappingRulesTable>;
type P = { service_id: string; rule_id: string };
type B = {
  method?: string;
  pattern?: string;
  metric_id?: string;
  delta?: number;
  last?: boolean;
  position?: number;
};

function repr(r: Row) {
  return {
    id: r.id,
    service_id: r.service_id,
    method: r.method,
    pattern: r.pattern,
    metric_id: r.metric_id,
    delta: r.delta,
    last: r.last === 1,
    position: r.position,
  };
}

function ownRule(db: Db, serviceId: string, id: string): Promise<Row> {
  return ownChild(db, 'mapping_rules', { column: 'service_id', id: serviceId }, id, 'mapping rule');
}

const one = pathParams('service_id', 'rule_id');
const base = '/services/:service_id/mapping_rules';

export const MAPPING_RULE_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: base,
    operationId: 'listMappingRules',
    summary: "List a service's mapping rules in their order",
    tags: ['mapping rules'],
    scope: 'management',
    write: false,
    params: pathParams('service_id'),
    query: listQuery(),
    response: { status: 200, schema: pageSchema(RULE_SCHEMA) },
    async handler(ctx, principal, req) {
      const { service_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      const rows = await ctx.db
        .selectFrom('mapping_rules')
        .selectAll()
        .where('service_id', '=', service_id)
        .execute();
      return pageOf(rows, (r) => posKey(r.position, r.id), req.query as { limit: number }, repr);
    },
  },
  {
    method: 'POST',
    path: base,
    operationId: 'createMappingRule',
    summary: 'Create a mapping rule (at the end, or at `position`)',
    tags: ['mapping rules'],
    scope: 'management',
    write: true,
    params: pathParams('service_id'),
    body: body(FIELDS, ['method', 'pattern', 'metric_id']),
    example: { body: { method: 'GET', pattern: '/items/{id}', metric_id: 'hits-metric-id', delta: 1 } },
    response: { status: 201, schema: RULE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id } = params<P>(req);
      const b = req.body as Required<Pick<B, 'method' | 'pattern' | 'metric_id'>> & B;
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        await metricOfService(trx, service_id, b.metric_id);
        const id = newId();
        const end = await nextPosition(trx, 'mapping_rules', 'service_id', service_id);
        await trx
          .insertInto('mapping_rules')
          .values({
            id,
            service_id,
            method: b.method,
            pattern: b.pattern,
            metric_id: b.metric_id,
            delta: b.delta ?? 1,
            last: b.last ? 1 : 0,
            position: end,
          })
          .execute();
        if (b.position !== undefined && b.position < end)
          await renumber(trx, 'mapping_rules', 'service_id', service_id, { id, index: b.position });
        const after = repr(await ownRule(trx, service_id, id));
        return {
          changes: [
            { action: 'mapping_rule.created', objectType: 'mapping_rule', objectId: id, before: null, after },
          ],
          result: after,
        };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'GET',
    path: `${base}/:rule_id`,
    operationId: 'getMappingRule',
    summary: 'Get a mapping rule',
    tags: ['mapping rules'],
    scope: 'management',
    write: false,
    params: one,
    response: { status: 200, schema: RULE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, rule_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      return withEtag(reply, repr(await ownRule(ctx.db, service_id, rule_id)));
    },
  },
  {
    method: 'PATCH',
    path: `${base}/:rule_id`,
    operationId: 'updateMappingRule',
    summary: 'Update a mapping rule; `position` moves it',
    tags: ['mapping rules'],
    scope: 'management',
    write: true,
    params: one,
    body: body(FIELDS),
    response: { status: 200, schema: RULE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id, rule_id } = params<P>(req);
      const b = req.body as B;
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const before = repr(await ownRule(trx, service_id, rule_id));
        checkIfMatch(req, before);
        if (b.metric_id !== undefined) await metricOfService(trx, service_id, b.metric_id);
        const set = {
          ...(b.method !== undefined ? { method: b.method } : {}),
          ...(b.pattern !== undefined ? { pattern: b.pattern } : {}),
          ...(b.metric_id !== undefined ? { metric_id: b.metric_id } : {}),
          ...(b.delta !== undefined ? { delta: b.delta } : {}),
          ...(b.last !== undefined ? { last: b.last ? 1 : 0 } : {}),
        };
        if (Object.keys(set).length > 0)
          await trx.updateTable('mapping_rules').set(set).where('id', '=', rule_id).execute();
        if (b.position !== undefined && b.position !== before.position)
          await renumber(trx, 'mapping_rules', 'service_id', service_id, { id: rule_id, index: b.position });
        const after = repr(await ownRule(trx, service_id, rule_id));
        return { changes: updateChanges('mapping_rule', rule_id, before, after), result: after };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'DELETE',
    path: `${base}/:rule_id`,
    operationId: 'deleteMappingRule',
    summary: 'Delete a mapping rule',
    tags: ['mapping rules'],
    scope: 'management',
    write: true,
    params: one,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { service_id, rule_id } = params<P>(req);
      await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const before = repr(await ownRule(trx, service_id, rule_id));
        checkIfMatch(req, before);
        await trx.deleteFrom('mapping_rules').where('id', '=', rule_id).execute();
        await renumber(trx, 'mapping_rules', 'service_id', service_id);
        return {
          changes: [
            {
              action: 'mapping_rule.deleted',
              objectType: 'mapping_rule',
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
