/** Admin token lookups: tokens are found by their SHA-256 digest, never by their value. */
import type { Kysely } from 'kysely';
import type { DB } from '../schema.js';
import { type AdminTokenRecord, toAdminToken } from './records.js';

/** The admin token whose digest is `hash` (SHA-256 hex), tenant or platform, or null. */
export async function findAdminTokenByHash(db: Kysely<DB>, hash: string): Promise<AdminTokenRecord | null> {
  const r = await db.selectFrom('admin_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  return r ? toAdminToken(r) : null;
}
