/**
 * The first platform token: `TOLLGATE_PLATFORM_TOKEN` at start makes sure a platform token named
 * `bootstrap` with that value exists (stored hashed); changing the variable replaces it.
 */
import type { Kysely } from 'kysely';
import { sha256 } from '../store/digest.js';
import { newId } from '../store/sql/repo/ids.js';
import type { DB } from '../store/sql/schema.js';

export const BOOTSTRAP_TOKEN_NAME = 'bootstrap';

/** Returns true when the token was created (false: it already existed). */
export async function ensurePlatformToken(db: Kysely<DB>, value: string, now: number): Promise<boolean> {
  const hash = sha256(value);
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('admin_tokens')
      .select(['id', 'token_hash'])
      .where('tenant_id', 'is', null)
      .where('name', '=', BOOTSTRAP_TOKEN_NAME)
      .execute();
    if (existing.some((t) => t.token_hash === hash)) return false;
    await trx
      .deleteFrom('admin_tokens')
      .where('tenant_id', 'is', null)
      .where('name', '=', BOOTSTRAP_TOKEN_NAME)
      .execute();
    await trx
      .insertInto('admin_tokens')
      .values({
        id: newId(),
        tenant_id: null,
        name: BOOTSTRAP_TOKEN_NAME,
        token_hash: hash,
        scopes: JSON.stringify(['management', 'analytics', 'billing']),
        read_only: 0,
        expires_at: null,
        position: 0,
        created_at: now,
      })
      .execute();
    return true;
  });
}
