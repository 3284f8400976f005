/** Service lookups, always scoped to a tenant: another tenant's service is as absent as a missing one. */
import type { Kysely } from 'kysely';
import type { DB } from '../schema.js';
import { type ServiceRecord, toService } from './records.js';

/** The tenant's service `serviceId`, or null (also when it belongs to another tenant). */
export async function getService(
  db: Kysely<DB>,
  tenantId: string,
  serviceId: string,
): Promise<ServiceRecord | null> {
  const r = await db
    .selectFrom('services')
    .selectAll()
    .where('id', '=', serviceId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return r ? toService(r) : null;
}

/** The tenant's services, in their stored order. */
export async function listServices(db: Kysely<DB>, tenantId: string): Promise<ServiceRecord[]> {
  const rows = await db
    .selectFrom('services')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('position')
    .execute();
  return rows.map(toService);
}
