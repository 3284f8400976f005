/** Shared pieces of the catalog routes: path parameters, ownership lookups, pages, positions. */
import type { FastifyRequest } from 'fastify';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { DB } from '../../../store/sql/schema.js';
import type { PlansTable, ServicesTable } from '../../../store/sql/schema-config.js';
import { assertServiceAccess, type Principal, requireTenant } from '../../auth.js';
import { AdminError } from '../../errors.js';
import { decodeCursor, PAGE_QUERY, page } from '../../http-conventions.js';
import type { JsonSchema } from '../../route.js';

export type Db = Kysely<DB> | Transaction<DB>;

export const ID: JsonSchema = { type: 'string', minLength: 1, maxLength: 128 };
export const SYSTEM_NAME: JsonSchema = {
  type: 'string',
  pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$',
};
export const DECIMAL: JsonSchema = { type: 'string', pattern: '^\\d+(\\.\\d+)?$', maxLength: 40 };
export const TEXT: JsonSchema = { type: 'string', minLength: 1, maxLength: 1000 };

/** The params schema of a path naming `names` (all ids). */
export function pathParams(...names: string[]): JsonSchema {
  return {
    type: 'object',
    required: names,
    properties: Object.fromEntries(names.map((n) => [n, ID])),
    additionalProperties: false,
  };
}

/** `?force=true` of deletes that take dependants along. */
export const FORCE_QUERY: JsonSchema = {
  type: 'object',
  properties: { force: { type: 'boolean', default: false } },
  additionalProperties: false,
};

/** A list's query: paging plus the given filters. */
export function listQuery(filters: Record<string, JsonSchema> = {}): JsonSchema {
  return { type: 'object', properties: { ...PAGE_QUERY, ...filters }, additionalProperties: false };
}

/** A body schema: an object with these properties, none other. */
export function body(properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  return { type: 'object', required, properties, additionalProperties: false };
}

export function params<T>(req: FastifyRequest): T {
  return req.params as T;
}

/** The caller's service, or not_found (another tenant's, or one a member may not manage). */
export async function ownService(
  db: Db,
  principal: Principal,
  serviceId: string,
): Promise<Selectable<ServicesTable>> {
  const tenantId = requireTenant(principal);
  assertServiceAccess(principal, serviceId);
  const r = await db
    .selectFrom('services')
    .selectAll()
    .where('id', '=', serviceId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (!r) throw new AdminError('not_found', `service ${serviceId} not found`);
  return r;
}

/** The child tables the catalog reads one row of, by `id` under its parent. */
type ChildTable = 'features' | 'mapping_rules' | 'metrics' | 'plans' | 'pricing_rules';
type ParentColumn = 'service_id' | 'plan_id';

/**
 * The row `id` of `table` whose `parent.column` is `parent.id`, or not_found naming `what` (the caller
 * has checked the parent is the principal's). One lookup for every catalog child, instead of one copy each.
 */
export async function ownChild<T extends ChildTable>(
  db: Db,
  table: T,
  parent: { readonly column: ParentColumn; readonly id: string },
  id: string,
  what: string,
): Promise<Selectable<DB[T]>> {
  // Every child table has `id` and its parent column; Kysely cannot see that through the generic `T`.
  const loose = db as unknown as Kysely<
    Record<ChildTable, { id: string; service_id: string; plan_id: string }>
  >;
  const r = await loose
    .selectFrom(table as ChildTable)
    .selectAll()
    .where('id', '=', id)
    .where(parent.column, '=', parent.id)
    .executeTakeFirst();
  if (!r) throw new AdminError('not_found', `${what} ${id} not found`);
  return r as unknown as Selectable<DB[T]>;
}

/** A plan of the caller's service, or not_found. */
export async function ownPlan(
  db: Db,
  principal: Principal,
  serviceId: string,
  planId: string,
): Promise<Selectable<PlansTable>> {
  await ownService(db, principal, serviceId);
  return ownChild(db, 'plans', { column: 'service_id', id: serviceId }, planId, 'application plan');
}

/** A metric id of the service, or 400 naming the field (a reference in a body, not the path). */
export async function metricOfService(db: Db, serviceId: string, metricId: string, field = 'metric_id') {
  const m = await db
    .selectFrom('metrics')
    .select(['id', 'system_name'])
    .where('id', '=', metricId)
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
  if (!m)
    throw new AdminError('invalid_request', `${field}: no metric ${metricId} in this service`, {
      errors: [{ path: `/body/${field}`, message: 'unknown metric of this service' }],
    });
  return m;
}

/** A sort key that keeps stored order: zero-padded position, then the id. */
export function posKey(position: number, id: string): string {
  return `${String(position).padStart(10, '0')}|${id}`;
}

/**
 * One page of `rows` (all of a parent's, which are few) after the cursor, in `keyOf` order. Catalog
 * collections are small per service, so they are cut in memory with the same cursor contract.
 */
export function pageOf<T, R>(
  rows: readonly T[],
  keyOf: (row: T) => string,
  query: { limit: number; cursor?: string },
  repr: (row: T) => R,
) {
  const after = decodeCursor(query.cursor);
  const sorted = [...rows].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const rest = after === null ? sorted : sorted.filter((r) => keyOf(r) > after);
  const p = page(rest.slice(0, query.limit + 1), query.limit, keyOf);
  return { items: p.items.map(repr), next_cursor: p.next_cursor };
}

type Positioned = 'services' | 'metrics' | 'mapping_rules' | 'plans' | 'features' | 'pricing_rules';
type PosRow = { id: string; position: number; parent: string };

/**
 * Renumbers a parent's rows 0..n-1 in their current order, with `first` (if given) moved to `index`.
 * Positions stay dense so an export lists objects exactly as an apply would store them again.
 */
export async function renumber(
  trx: Transaction<DB>,
  table: Positioned,
  parentColumn: 'tenant_id' | 'service_id' | 'plan_id',
  parentId: string,
  move?: { id: string; index: number },
): Promise<void> {
  // The six tables share (id, position, parent): a narrow view of them keeps one query for all.
  const db = trx as unknown as Transaction<Record<Positioned, PosRow>>;
  const rows = await db
    .selectFrom(table)
    .select(['id', 'position'])
    .where(parentColumn as 'parent', '=', parentId)
    .orderBy('position')
    .orderBy('id')
    .execute();
  const ids = rows.map((r) => r.id);
  if (move) {
    const from = ids.indexOf(move.id);
    if (from >= 0) ids.splice(from, 1);
    ids.splice(Math.max(0, Math.min(move.index, ids.length)), 0, move.id);
  }
  for (const [pos, id] of ids.entries()) {
    const cur = rows.find((r) => r.id === id);
    if (cur && cur.position === pos) continue;
    await db.updateTable(table).set({ position: pos }).where('id', '=', id).execute();
  }
}

/** The next position after a parent's rows. */
export async function nextPosition(
  trx: Db,
  table: Positioned,
  parentColumn: 'tenant_id' | 'service_id' | 'plan_id',
  parentId: string,
): Promise<number> {
  const db = trx as unknown as Kysely<Record<Positioned, PosRow>>;
  const r = await db
    .selectFrom(table)
    .select((eb) => eb.fn.count<number | string>('id').as('n'))
    .where(parentColumn as 'parent', '=', parentId)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

export const conflict = (message: string) => new AdminError('conflict', message);

/** A 400 naming one body field. */
export function badField(field: string, message: string): AdminError {
  return new AdminError('invalid_request', `${field}: ${message}`, {
    errors: [{ path: `/body/${field}`, message }],
  });
}
