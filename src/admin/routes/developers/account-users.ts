/** The developers of an account (`/accounts/:account_id/users`): email unique per account, role admin|member. */
import type { Selectable } from 'kysely';
import { newId } from '../../../store/sql/repo/ids.js';
import type { AccountUsersTable } from '../../../store/sql/schema-developers.js';
import { requireTenant } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, decodeCursor, page, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute, JsonSchema } from '../../route.js';
import { loadAccount } from './accounts.js';
import { EMAIL, idParams, iso, listQuery, notFound, obj, orConflict, str } from './common.js';

const ROLES = ['admin', 'member'];

const userSchema: JsonSchema = obj(
  {
    id: { type: 'string' },
    account_id: { type: 'string' },
    email: { type: 'string' },
    name: { type: ['string', 'null'] },
    role: { type: 'string', enum: ROLES },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
  ['id', 'account_id', 'email', 'name', 'role', 'created_at', 'updated_at'],
);

const repr = (r: Selectable<AccountUsersTable>) => ({
  id: r.id,
  account_id: r.account_id,
  email: r.email,
  name: r.name,
  role: r.role,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});

async function load(ctx: AdminContext, tenantId: string, accountId: string, id: string) {
  await loadAccount(ctx, tenantId, accountId);
  const r = await ctx.db
    .selectFrom('account_users')
    .selectAll()
    .where('id', '=', id)
    .where('account_id', '=', accountId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (!r) throw notFound('account user', id);
  return repr(r);
}

const base = { tags: ['accounts'], scope: 'management' } as const;
const EMAIL_TAKEN = 'this account has a user with this email';

export const ACCOUNT_USER_ROUTES: readonly AdminRoute[] = [
  {
    ...base,
    method: 'GET',
    path: '/accounts/:account_id/users',
    operationId: 'listAccountUsers',
    summary: "List an account's users by email",
    write: false,
    params: idParams('account_id'),
    query: listQuery({ role: { type: 'string', enum: ROLES } }),
    response: { status: 200, schema: pageSchema(userSchema) },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const { account_id } = req.params as { account_id: string };
      await loadAccount(ctx, tenantId, account_id);
      const q = req.query as { limit: number; cursor?: string; role?: string };
      const after = decodeCursor(q.cursor);
      let sel = ctx.db
        .selectFrom('account_users')
        .selectAll()
        .where('account_id', '=', account_id)
        .where('tenant_id', '=', tenantId)
        .orderBy('email')
        .limit(q.limit + 1);
      if (after !== null) sel = sel.where('email', '>', after);
      if (q.role !== undefined) sel = sel.where('role', '=', q.role);
      return page((await sel.execute()).map(repr), q.limit, (u) => u.email);
    },
  },
  {
    ...base,
    method: 'POST',
    path: '/accounts/:account_id/users',
    operationId: 'createAccountUser',
    summary: 'Add a user to an account',
    write: true,
    params: idParams('account_id'),
    body: obj({ email: EMAIL, name: str(), role: { type: 'string', enum: ROLES, default: 'member' } }, [
      'email',
    ]),
    response: { status: 201, schema: userSchema },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const { account_id } = req.params as { account_id: string };
      const b = req.body as { email: string; name?: string; role: string };
      await loadAccount(ctx, tenantId, account_id);
      const taken = await ctx.db
        .selectFrom('account_users')
        .select('id')
        .where('account_id', '=', account_id)
        .where('email', '=', b.email)
        .executeTakeFirst();
      if (taken) throw new AdminError('conflict', EMAIL_TAKEN);
      const id = newId();
      const at = ctx.clock();
      return orConflict(EMAIL_TAKEN, () =>
        commitChange(ctx, req, principal, tenantId, async (trx) => {
          await trx
            .insertInto('account_users')
            .values({
              id,
              tenant_id: tenantId,
              account_id,
              email: b.email,
              name: b.name ?? null,
              role: b.role,
              created_at: at,
              updated_at: at,
            })
            .execute();
          const u = repr(
            await trx.selectFrom('account_users').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
          );
          return {
            changes: [
              {
                action: 'account_user.created',
                objectType: 'account_user',
                objectId: id,
                before: null,
                after: u,
              },
            ],
            result: u,
          };
        }),
      );
    },
  },
  {
    ...base,
    method: 'GET',
    path: '/accounts/:account_id/users/:user_id',
    operationId: 'getAccountUser',
    summary: "Get an account's user",
    write: false,
    params: idParams('account_id', 'user_id'),
    response: { status: 200, schema: userSchema },
    async handler(ctx, principal, req, reply) {
      const { account_id, user_id } = req.params as { account_id: string; user_id: string };
      return withEtag(reply, await load(ctx, requireTenant(principal), account_id, user_id));
    },
  },
  {
    ...base,
    method: 'PATCH',
    path: '/accounts/:account_id/users/:user_id',
    operationId: 'updateAccountUser',
    summary: "Change an account user's email, name or role",
    write: true,
    params: idParams('account_id', 'user_id'),
    body: obj({
      email: EMAIL,
      name: { type: ['string', 'null'], maxLength: 255 },
      role: { type: 'string', enum: ROLES },
    }),
    response: { status: 200, schema: userSchema },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const { account_id, user_id } = req.params as { account_id: string; user_id: string };
      const b = req.body as { email?: string; name?: string | null; role?: string };
      const cur = await load(ctx, tenantId, account_id, user_id);
      checkIfMatch(req, cur);
      const same =
        (b.email ?? cur.email) === cur.email &&
        (b.name === undefined ? cur.name : b.name) === cur.name &&
        (b.role ?? cur.role) === cur.role;
      if (!same)
        await orConflict(EMAIL_TAKEN, () =>
          commitChange(ctx, req, principal, tenantId, async (trx) => {
            await trx
              .updateTable('account_users')
              .set({
                email: b.email ?? cur.email,
                name: b.name === undefined ? cur.name : b.name,
                role: b.role ?? cur.role,
                updated_at: ctx.clock(),
              })
              .where('id', '=', user_id)
              .execute();
            const after = repr(
              await trx
                .selectFrom('account_users')
                .selectAll()
                .where('id', '=', user_id)
                .executeTakeFirstOrThrow(),
            );
            return {
              changes: [
                {
                  action: 'account_user.updated',
                  objectType: 'account_user',
                  objectId: user_id,
                  before: cur,
                  after,
                },
              ],
              result: after,
            };
          }),
        );
      return withEtag(reply, await load(ctx, tenantId, account_id, user_id));
    },
  },
  {
    ...base,
    method: 'DELETE',
    path: '/accounts/:account_id/users/:user_id',
    operationId: 'deleteAccountUser',
    summary: 'Remove a user from an account',
    write: true,
    params: idParams('account_id', 'user_id'),
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const { account_id, user_id } = req.params as { account_id: string; user_id: string };
      const cur = await load(ctx, tenantId, account_id, user_id);
      checkIfMatch(req, cur);
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        await trx.deleteFrom('account_users').where('id', '=', user_id).execute();
        return {
          changes: [
            {
              action: 'account_user.deleted',
              objectType: 'account_user',
              objectId: user_id,
              before: cur,
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
