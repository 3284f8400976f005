/**
 * Every write of the admin API goes through `commitChange`: the write, its audit record and the change
 * hooks (webhook outbox) in one transaction; the tenant's config_version bumped so other processes
 * re-project it; and this process's auth view re-projected at once, so the change is live on return.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Transaction } from 'kysely';
import type { DB } from '../store/sql/schema.js';
import type { Principal } from './auth.js';
import { syncAuthView } from './projection.js';
import type { AdminContext, ChangeRecord } from './route.js';

/**
 * Runs `write` in a transaction; it returns the change records (one or more) and a result. Each record is
 * audited with the principal and request id, and handed to the change hooks, before the commit.
 */
export async function commitChange<T>(
  ctx: AdminContext,
  req: FastifyRequest,
  principal: Principal,
  tenantId: string | null,
  write: (trx: Transaction<DB>) => Promise<{ changes: readonly ChangeRecord[]; result: T }>,
): Promise<T> {
  const at = ctx.clock();
  const out = await ctx.db.transaction().execute(async (trx) => {
    const done = await write(trx);
    for (const c of done.changes) {
      await trx
        .insertInto('audit_log')
        .values({
          id: randomUUID(),
          tenant_id: tenantId,
          actor_type: principal.userId ? 'user' : 'token',
          actor_id: principal.userId ?? principal.tokenId,
          action: c.action,
          object_type: c.objectType,
          object_id: c.objectId,
          before: c.before === null || c.before === undefined ? null : JSON.stringify(c.before),
          after: c.after === null || c.after === undefined ? null : JSON.stringify(c.after),
          request_id: req.id,
          created_at: at,
        })
        .execute();
      for (const hook of ctx.changeHooks ?? []) await hook(trx, tenantId, c, at);
    }
    if (tenantId !== null && done.changes.length > 0) {
      await trx
        .updateTable('tenants')
        .set((eb) => ({ config_version: eb('config_version', '+', 1), updated_at: at }))
        .where('id', '=', tenantId)
        .execute();
    }
    return done;
  });
  if (tenantId !== null && out.changes.length > 0 && ctx.authView) {
    await syncAuthView(ctx.db, ctx.authView, [tenantId]);
  }
  return out.result;
}

/**
 * The change record of an update, or none when the representation did not change (an update that
 * changes nothing is neither audited nor announced).
 */
export function updateChanges(
  objectType: string,
  objectId: string,
  before: unknown,
  after: unknown,
): ChangeRecord[] {
  return JSON.stringify(before) === JSON.stringify(after)
    ? []
    : [{ action: `${objectType}.updated`, objectType, objectId, before, after }];
}
