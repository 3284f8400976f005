/**
 * Developer accounts: list (filters state, name), create, get, update, delete. An account that is not
 * approved holds its applications: they project as suspended and the backend refuses them.
 */
import type { Selectable } from 'kysely';
import { closeAccountGap, nextAccountPosition } from '../../../store/sql/repo/developers-positions.js';
import { newId } from '../../../store/sql/repo/ids.js';
import type { AccountsTable } from '../../../store/sql/schema-config.js';
import { type Principal, requireTenant } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, decodeCursor, page, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute, JsonSchema } from '../../route.js';
import { EMAIL, idParams, listQuery, notFound, obj, orConflict, str } from './common.js';

export const ACCOUNT_STATES = ['approved', 'pending', 'suspended'];

const accountSchema: JsonSchema = obj(
  {
    id: { type: 'string' },
    name: { type: 'string' },
    email: { type: ['string', 'null'] },
    state: { type: 'string', enum: ACCOUNT_STATES },
  },
  ['id', 'name', 'email', 'state'],
);

const repr = (r: Selectable<AccountsTable>) => ({ id: r.id, name: r.name, email: r.email, state: r.state });
type Account = ReturnType<typeof repr>;

/** The tenant's account, or 404 (also for another tenant's). */
export async function loadAccount(ctx: AdminContext, tenantId: string, id: string) {
  const r = await ctx.db
    .selectFrom('accounts')
    .selectAll()
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (!r) throw notFound('account', id);
  return { row: r, account: repr(r) };
}

/** A member limited to some services must not delete an account (it may hold apps of other services). */
function requireAllServices(p: Principal): void {
  if (p.serviceIds) throw new AdminError('forbidden', 'this call needs access to every service');
}

const stateVerb: Record<string, string> = {
  approved: 'approved',
  suspended: 'suspended',
  pending: 'updated',
};
const base = { tags: ['accounts'], scope: 'management' } as const;
const params = idParams('account_id');
const NAME_TAKEN = 'an account with this name exists';

export const ACCOUNT_ROUTES: readonly AdminRoute[] = [
  {
    ...base,
    method: 'GET',
    path: '/accounts',
    operationId: 'listAccounts',
    summary: 'List developer accounts by name (filters: state, name)',
    write: false,
    query: listQuery({ state: { type: 'string', enum: ACCOUNT_STATES }, name: str() }),
    response: { status: 200, schema: pageSchema(accountSchema) },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const q = req.query as { limit: number; cursor?: string; state?: string; name?: string };
      const after = decodeCursor(q.cursor);
      let sel = ctx.db
        .selectFrom('accounts')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .orderBy('name')
        .limit(q.limit + 1);
      if (after !== null) sel = sel.where('name', '>', after);
      if (q.state !== undefined) sel = sel.where('state', '=', q.state);
      if (q.name !== undefined) sel = sel.where('name', '=', q.name);
      return page((await sel.execute()).map(repr), q.limit, (a) => a.name);
    },
  },
  {
    ...base,
    method: 'POST',
    path: '/accounts',
    operationId: 'createAccount',
    summary: 'Create a developer account',
    write: true,
    body: obj(
      { name: str(), email: EMAIL, state: { type: 'string', enum: ACCOUNT_STATES, default: 'approved' } },
      ['name'],
    ),
    response: { status: 201, schema: accountSchema },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const b = req.body as { name: string; email?: string; state: string };
      const taken = await ctx.db
        .selectFrom('accounts')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('name', '=', b.name)
        .executeTakeFirst();
      if (taken) throw new AdminError('conflict', NAME_TAKEN);
      const id = newId();
      return orConflict(NAME_TAKEN, () =>
        commitChange(ctx, req, principal, tenantId, async (trx) => {
          await trx
            .insertInto('accounts')
            .values({
              id,
              tenant_id: tenantId,
              name: b.name,
              email: b.email ?? null,
              state: b.state,
              position: await nextAccountPosition(trx, tenantId),
            })
            .execute();
          const a = repr(
            await trx.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
          );
          return {
            changes: [
              { action: 'account.created', objectType: 'account', objectId: id, before: null, after: a },
            ],
            result: a,
          };
        }),
      );
    },
  },
  {
    ...base,
    method: 'GET',
    path: '/accounts/:account_id',
    operationId: 'getAccount',
    summary: 'Get a developer account',
    write: false,
    params,
    response: { status: 200, schema: accountSchema },
    async handler(ctx, principal, req, reply) {
      const { account_id } = req.params as { account_id: string };
      return withEtag(reply, (await loadAccount(ctx, requireTenant(principal), account_id)).account);
    },
  },
  {
    ...base,
    method: 'PATCH',
    path: '/accounts/:account_id',
    operationId: 'updateAccount',
    summary: 'Update an account; state suspended/pending holds its applications at once',
    write: true,
    params,
    body: obj({
      name: str(),
      email: { type: ['string', 'null'], format: 'email', maxLength: 254 },
      state: { type: 'string', enum: ACCOUNT_STATES },
    }),
    response: { status: 200, schema: accountSchema },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const { account_id } = req.params as { account_id: string };
      const b = req.body as Partial<Account>;
      const { account: cur } = await loadAccount(ctx, tenantId, account_id);
      checkIfMatch(req, cur);
      const next: Account = {
        ...cur,
        ...(b.name === undefined ? {} : { name: b.name }),
        ...(b.email === undefined ? {} : { email: b.email }),
        ...(b.state === undefined ? {} : { state: b.state }),
      };
      const after = await orConflict(NAME_TAKEN, () =>
        commitChange(ctx, req, principal, tenantId, async (trx) => {
          if (JSON.stringify(next) === JSON.stringify(cur)) return { changes: [], result: cur };
          await trx
            .updateTable('accounts')
            .set({ name: next.name, email: next.email, state: next.state })
            .where('id', '=', account_id)
            .execute();
          const verb = next.state !== cur.state ? (stateVerb[next.state] ?? 'updated') : 'updated';
          return {
            changes: [
              {
                action: `account.${verb}`,
                objectType: 'account',
                objectId: account_id,
                before: cur,
                after: next,
              },
            ],
            result: next,
          };
        }),
      );
      return withEtag(reply, after);
    },
  },
  {
    ...base,
    method: 'DELETE',
    path: '/accounts/:account_id',
    operationId: 'deleteAccount',
    summary: 'Delete an account with its users and applications',
    write: true,
    params,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      requireAllServices(principal);
      const { account_id } = req.params as { account_id: string };
      const { row, account } = await loadAccount(ctx, tenantId, account_id);
      checkIfMatch(req, account);
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        await trx.deleteFrom('accounts').where('id', '=', account_id).execute();
        await closeAccountGap(trx, tenantId, row.position);
        return {
          changes: [
            {
              action: 'account.deleted',
              objectType: 'account',
              objectId: account_id,
              before: account,
              after: null,
            },
          ],
          result: null,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
];
