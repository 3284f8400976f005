/** Application reads for the admin API: rows with their keys and referrer filters, tenant-scoped. */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { DB } from '../schema.js';
import type { ApplicationsTable } from '../schema-config.js';
import { groupBy } from './state.js';

type Db = Kysely<DB> | Transaction<DB>;

/** An application row with its app keys and referrer filters (both in stored order). */
export interface AppWithLists {
  readonly row: Selectable<ApplicationsTable>;
  readonly appKeys: string[];
  readonly referrerFilters: string[];
}

/** Attaches keys and filters to application rows (two queries whatever the count). */
export async function withLists(db: Db, rows: Selectable<ApplicationsTable>[]): Promise<AppWithLists[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [keys, refs] = await Promise.all(
    (['app_keys', 'referrer_filters'] as const).map((t) =>
      db
        .selectFrom(t)
        .select(['application_id', 'value'])
        .where('application_id', 'in', ids)
        .orderBy('position')
        .orderBy('value')
        .execute(),
    ),
  );
  const keysBy = groupBy(keys ?? [], (k) => k.application_id);
  const refsBy = groupBy(refs ?? [], (k) => k.application_id);
  return rows.map((row) => ({
    row,
    appKeys: (keysBy.get(row.id) ?? []).map((k) => k.value),
    referrerFilters: (refsBy.get(row.id) ?? []).map((k) => k.value),
  }));
}

/** The tenant's application `id` with its lists, or null (also for another tenant's). */
export async function findApp(db: Db, tenantId: string, id: string): Promise<AppWithLists | null> {
  const row = await db
    .selectFrom('applications')
    .selectAll()
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (!row) return null;
  return (await withLists(db, [row]))[0] ?? null;
}

/** The next position in an app's key or filter list. */
export async function nextListPosition(
  db: Db,
  table: 'app_keys' | 'referrer_filters',
  applicationId: string,
): Promise<number> {
  const r = await db
    .selectFrom(table)
    .select((eb) => eb.fn.max('position').as('m'))
    .where('application_id', '=', applicationId)
    .executeTakeFirst();
  return r?.m === null || r?.m === undefined ? 0 : Number(r.m) + 1;
}
