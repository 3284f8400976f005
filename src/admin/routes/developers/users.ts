/**
 * A tenant's users (the provider's staff): admins reach everything; members only the services their
 * permissions name (and, with `areas`, only those scopes). Managing users needs a token of no user or
 * of an admin user.
 */
import type { Kysely, Selectable } from 'kysely';
import type { UserPermissions } from '../../../store/sql/repo/developers.js';
import { renumberTokens } from '../../../store/sql/repo/developers-positions.js';
import { newId } from '../../../store/sql/repo/ids.js';
import type { DB } from '../../../store/sql/schema.js';
import type { UsersTable } from '../../../store/sql/schema-developers.js';
import { requireTenant, requireTenantAdmin } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, decodeCursor, page, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute, JsonSchema } from '../../route.js';
import { EMAIL, idParams, iso, listQuery, notFound, obj, orConflict, str } from './common.js';

const ROLES = ['admin', 'member'];
const PERMISSIONS: JsonSchema = obj(
  {
    services: {
      anyOf: [
        { type: 'string', enum: ['all'] },
        {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 64 },
          uniqueItems: true,
          maxItems: 500,
        },
      ],
    },
    areas: {
      type: 'array',
      items: { type: 'string', enum: ['management', 'analytics', 'billing'] },
      uniqueItems: true,
    },
  },
  ['services'],
);

const userSchema: JsonSchema = obj(
  {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: ['string', 'null'] },
    role: { type: 'string', enum: ROLES },
    permissions: { type: 'object', additionalProperties: true },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
  ['id', 'email', 'name', 'role', 'permissions', 'created_at', 'updated_at'],
);

function repr(r: Selectable<UsersTable>) {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    role: r.role as 'admin' | 'member',
    permissions: JSON.parse(r.permissions) as UserPermissions,
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
  };
}
type User = ReturnType<typeof repr>;

async function load(ctx: AdminContext, tenantId: string, id: string): Promise<User> {
  const r = await ctx.db
    .selectFrom('users')
    .selectAll()
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (!r) throw notFound('user', id);
  return repr(r);
}

/** An admin's permissions are always everything; a member's name services of the tenant. */
async function permissionsFor(
  db: Kysely<DB>,
  tenantId: string,
  role: string,
  p: UserPermissions | undefined,
): Promise<UserPermissions> {
  if (role === 'admin') return { services: 'all' };
  const perms = p ?? { services: [] };
  if (perms.services !== 'all' && perms.services.length > 0) {
    const found = await db
      .selectFrom('services')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('id', 'in', [...perms.services])
      .execute();
    const known = new Set(found.map((s) => s.id));
    const unknown = perms.services.filter((s) => !known.has(s));
    if (unknown.length > 0)
      throw new AdminError('invalid_request', `unknown services: ${unknown.join(', ')}`);
  }
  return perms;
}

const base = { tags: ['users'], scope: 'management' } as const;
const params = idParams('user_id');
const EMAIL_TAKEN = 'a user with this email exists';

export const USER_ROUTES: readonly AdminRoute[] = [
  {
    ...base,
    method: 'GET',
    path: '/users',
    operationId: 'listUsers',
    summary: "List the tenant's users by email",
    write: false,
    query: listQuery({ role: { type: 'string', enum: ROLES } }),
    response: { status: 200, schema: pageSchema(userSchema) },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      requireTenantAdmin(principal);
      const q = req.query as { limit: number; cursor?: string; role?: string };
      const after = decodeCursor(q.cursor);
      let sel = ctx.db
        .selectFrom('users')
        .selectAll()
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
    path: '/users',
    operationId: 'createUser',
    summary: 'Create a user (admin, or member with permissions)',
    write: true,
    body: obj(
      { email: EMAIL, name: str(), role: { type: 'string', enum: ROLES }, permissions: PERMISSIONS },
      ['email', 'role'],
    ),
    response: { status: 201, schema: userSchema },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      requireTenantAdmin(principal);
      const b = req.body as { email: string; name?: string; role: string; permissions?: UserPermissions };
      const perms = await permissionsFor(ctx.db, tenantId, b.role, b.permissions);
      const taken = await ctx.db
        .selectFrom('users')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('email', '=', b.email)
        .executeTakeFirst();
      if (taken) throw new AdminError('conflict', EMAIL_TAKEN);
      const id = newId();
      const at = ctx.clock();
      await orConflict(EMAIL_TAKEN, () =>
        commitChange(ctx, req, principal, tenantId, async (trx) => {
          await trx
            .insertInto('users')
            .values({
              id,
              tenant_id: tenantId,
              email: b.email,
              name: b.name ?? null,
              role: b.role,
              permissions: JSON.stringify(perms),
              created_at: at,
              updated_at: at,
            })
            .execute();
          const u = repr(
            await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
          );
          return {
            changes: [{ action: 'user.created', objectType: 'user', objectId: id, before: null, after: u }],
            result: u,
          };
        }),
      );
      return load(ctx, tenantId, id);
    },
  },
  {
    ...base,
    method: 'GET',
    path: '/users/:user_id',
    operationId: 'getUser',
    summary: 'Get a user',
    write: false,
    params,
    response: { status: 200, schema: userSchema },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const { user_id } = req.params as { user_id: string };
      // A member may read itself; anything else needs an admin.
      if (principal.userId !== user_id) requireTenantAdmin(principal);
      return withEtag(reply, await load(ctx, tenantId, user_id));
    },
  },
  {
    ...base,
    method: 'PATCH',
    path: '/users/:user_id',
    operationId: 'updateUser',
    summary: "Change a user's name, email, role or permissions (applies to its tokens at once)",
    write: true,
    params,
    body: obj({
      email: EMAIL,
      name: { type: ['string', 'null'], maxLength: 255 },
      role: { type: 'string', enum: ROLES },
      permissions: PERMISSIONS,
    }),
    response: { status: 200, schema: userSchema },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      requireTenantAdmin(principal);
      const { user_id } = req.params as { user_id: string };
      const b = req.body as {
        email?: string;
        name?: string | null;
        role?: string;
        permissions?: UserPermissions;
      };
      const cur = await load(ctx, tenantId, user_id);
      checkIfMatch(req, cur);
      const role = b.role ?? cur.role;
      const perms =
        b.permissions !== undefined || b.role !== undefined
          ? await permissionsFor(
              ctx.db,
              tenantId,
              role,
              b.permissions ?? (role === cur.role ? cur.permissions : undefined),
            )
          : cur.permissions;
      await orConflict(EMAIL_TAKEN, () =>
        commitChange(ctx, req, principal, tenantId, async (trx) => {
          await trx
            .updateTable('users')
            .set({
              email: b.email ?? cur.email,
              name: b.name === undefined ? cur.name : b.name,
              role,
              permissions: JSON.stringify(perms),
              updated_at: ctx.clock(),
            })
            .where('id', '=', user_id)
            .execute();
          const after = repr(
            await trx.selectFrom('users').selectAll().where('id', '=', user_id).executeTakeFirstOrThrow(),
          );
          const { updated_at: _a, ...x } = after;
          const { updated_at: _b, ...y } = cur;
          const same = JSON.stringify(x) === JSON.stringify(y);
          return {
            changes: same
              ? []
              : [{ action: 'user.updated', objectType: 'user', objectId: user_id, before: cur, after }],
            result: after,
          };
        }),
      );
      return withEtag(reply, await load(ctx, tenantId, user_id));
    },
  },
  {
    ...base,
    method: 'DELETE',
    path: '/users/:user_id',
    operationId: 'deleteUser',
    summary: 'Delete a user and its tokens',
    write: true,
    params,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      requireTenantAdmin(principal);
      const { user_id } = req.params as { user_id: string };
      const cur = await load(ctx, tenantId, user_id);
      checkIfMatch(req, cur);
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        await trx.deleteFrom('admin_tokens').where('user_id', '=', user_id).execute();
        await trx.deleteFrom('users').where('id', '=', user_id).execute();
        await renumberTokens(trx, tenantId);
        return {
          changes: [
            { action: 'user.deleted', objectType: 'user', objectId: user_id, before: cur, after: null },
          ],
          result: null,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
];
