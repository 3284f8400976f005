/**
 * List positions of accounts, applications and admin tokens. Apply writes them as 0..n-1 in file order
 * (tenant-wide for accounts and tokens, per account for applications), so the API keeps them dense:
 * a new row goes last, a deletion closes its gap, and `export → apply` stays a no-op.
 */
import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../schema.js';

type Db = Kysely<DB> | Transaction<DB>;

async function countOf(q: Promise<{ n: number | string | bigint } | undefined>): Promise<number> {
  const r = await q;
  return r ? Number(r.n) : 0;
}

/** The position a new account of the tenant takes (last). */
export function nextAccountPosition(db: Db, tenantId: string): Promise<number> {
  return countOf(
    db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst(),
  );
}

/** The position a new application of the account takes (last). */
export function nextAppPosition(db: Db, accountId: string): Promise<number> {
  return countOf(
    db
      .selectFrom('applications')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('account_id', '=', accountId)
      .executeTakeFirst(),
  );
}

/** The position a new admin token of the tenant takes (last). */
export function nextTokenPosition(db: Db, tenantId: string): Promise<number> {
  return countOf(
    db
      .selectFrom('admin_tokens')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst(),
  );
}

/** Closes the gap an account at `position` left. */
export async function closeAccountGap(db: Db, tenantId: string, position: number): Promise<void> {
  await db
    .updateTable('accounts')
    .set((eb) => ({ position: eb('position', '-', 1) }))
    .where('tenant_id', '=', tenantId)
    .where('position', '>', position)
    .execute();
}

/** Closes the gap an application at `position` of the account left. */
export async function closeAppGap(db: Db, accountId: string, position: number): Promise<void> {
  await db
    .updateTable('applications')
    .set((eb) => ({ position: eb('position', '-', 1) }))
    .where('account_id', '=', accountId)
    .where('position', '>', position)
    .execute();
}

/** Closes the gap an admin token at `position` of the tenant left. */
export async function closeTokenGap(db: Db, tenantId: string, position: number): Promise<void> {
  await db
    .updateTable('admin_tokens')
    .set((eb) => ({ position: eb('position', '-', 1) }))
    .where('tenant_id', '=', tenantId)
    .where('position', '>', position)
    .execute();
}

/** Renumbers the tenant's admin tokens 0..n-1 in their order (after several went at once). */
export async function renumberTokens(db: Db, tenantId: string): Promise<void> {
  const rows = await db
    .selectFrom('admin_tokens')
    .select(['id', 'position'])
    .where('tenant_id', '=', tenantId)
    .orderBy('position')
    .orderBy('name')
    .execute();
  for (const [i, r] of rows.entries()) {
    if (r.position !== i)
      await db.updateTable('admin_tokens').set({ position: i }).where('id', '=', r.id).execute();
  }
}
