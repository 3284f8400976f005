/** Tenant queries other parts need: the list, lookups, and the config versions the change poller reads. */
import type { Kysely } from 'kysely';
import type { DB } from '../schema.js';
import { num, type TenantRecord, toTenant } from './records.js';

/** Every tenant, by name. */
export async function listTenants(db: Kysely<DB>): Promise<TenantRecord[]> {
  const rows = await db.selectFrom('tenants').selectAll().orderBy('name').execute();
  return rows.map(toTenant);
}

export async function getTenant(db: Kysely<DB>, tenantId: string): Promise<TenantRecord | null> {
  const r = await db.selectFrom('tenants').selectAll().where('id', '=', tenantId).executeTakeFirst();
  return r ? toTenant(r) : null;
}

export async function findTenantByName(db: Kysely<DB>, name: string): Promise<TenantRecord | null> {
  const r = await db.selectFrom('tenants').selectAll().where('name', '=', name).executeTakeFirst();
  return r ? toTenant(r) : null;
}

/** tenant id → config_version, for change polling (a version differs whenever the tenant changed). */
export async function tenantConfigVersions(db: Kysely<DB>): Promise<Map<string, number>> {
  const rows = await db.selectFrom('tenants').select(['id', 'config_version']).execute();
  return new Map(rows.map((r) => [r.id, num(r.config_version)]));
}
