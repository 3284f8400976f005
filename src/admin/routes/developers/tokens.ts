/**
 * Access tokens of a tenant: listed without values, created with the value shown once (stored as its
 * SHA-256 digest), deleted. A member user's token manages only that user's own tokens, never wider ones.
 */
import type { Selectable } from 'kysely';
import { sha256 } from '../../../store/digest.js';
import { newTokenValue } from '../../../store/sql/repo/developers.js';
import { closeTokenGap, nextTokenPosition } from '../../../store/sql/repo/developers-positions.js';
import { newId } from '../../../store/sql/repo/ids.js';
import type { AdminTokensTable } from '../../../store/sql/schema-config.js';
import { type Principal, requireTenant } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, decodeCursor, page, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute, JsonSchema } from '../../route.js';
import { ISO, idParams, iso, listQuery, notFound, obj, orConflict, str } from './common.js';

const SCOPES = ['management', 'analytics', 'billing'] as const;

const tokenSchema: JsonSchema = obj(
  {
    id: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    read_only: { type: 'boolean' },
    expires_at: { type: ['string', 'null'] },
    user_id: { type: ['string', 'null'] },
    created_at: { type: 'string' },
    value: { type: 'string' },
  },
  ['id', 'name', 'scopes', 'read_only', 'expires_at', 'user_id', 'created_at'],
);

function repr(r: Selectable<AdminTokensTable>) {
  return {
    id: r.id,
    name: r.name,
    scopes: JSON.parse(r.scopes) as string[],
    read_only: r.read_only === 1,
    expires_at: iso(r.expires_at),
    user_id: r.user_id,
    created_at: iso(r.created_at)!,
  };
}

/** A member sees and manages only its own tokens. */
const ownOnly = (p: Principal) => (p.role === 'member' ? (p.userId ?? null) : null);

async function load(ctx: AdminContext, principal: Principal, id: string) {
  const tenantId = requireTenant(principal);
  let sel = ctx.db
    .selectFrom('admin_tokens')
    .selectAll()
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId);
  const own = ownOnly(principal);
  if (own !== null) sel = sel.where('user_id', '=', own);
  const r = await sel.executeTakeFirst();
  if (!r) throw notFound('access token', id);
  return { row: r, token: repr(r) };
}

const base = { tags: ['access tokens'], scope: 'management' } as const;
const params = idParams('token_id');
const NAME_TAKEN = 'an access token with this name exists';

export const TOKEN_ROUTES: readonly AdminRoute[] = [
  {
    ...base,
    method: 'GET',
    path: '/access_tokens',
    operationId: 'listAccessTokens',
    summary: "List the tenant's access tokens by name (never their values)",
    write: false,
    query: listQuery({ user_id: str() }),
    response: { status: 200, schema: pageSchema(tokenSchema) },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const q = req.query as { limit: number; cursor?: string; user_id?: string };
      const after = decodeCursor(q.cursor);
      let sel = ctx.db
        .selectFrom('admin_tokens')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .orderBy('name')
        .limit(q.limit + 1);
      if (after !== null) sel = sel.where('name', '>', after);
      const own = ownOnly(principal);
      if (own !== null) sel = sel.where('user_id', '=', own);
      if (q.user_id !== undefined) sel = sel.where('user_id', '=', q.user_id);
      return page((await sel.execute()).map(repr), q.limit, (t) => t.name);
    },
  },
  {
    ...base,
    method: 'POST',
    path: '/access_tokens',
    operationId: 'createAccessToken',
    summary: 'Create an access token; its value is in this answer only',
    write: true,
    body: obj(
      {
        name: str(),
        scopes: {
          type: 'array',
          items: { type: 'string', enum: [...SCOPES] },
          minItems: 1,
          uniqueItems: true,
        },
        read_only: { type: 'boolean', default: false },
        expires_at: ISO,
        user_id: str(),
      },
      ['name', 'scopes'],
    ),
    revealsSecret: true,
    response: { status: 201, schema: tokenSchema },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const b = req.body as {
        name: string;
        scopes: string[];
        read_only: boolean;
        expires_at?: string;
        user_id?: string;
      };
      const own = ownOnly(principal);
      // A member's new token is its own and never wider than the calling token.
      if (own !== null && b.user_id !== undefined && b.user_id !== own)
        throw new AdminError('forbidden', 'a member may create tokens only for itself');
      const userId = own ?? b.user_id ?? null;
      if (own !== null) {
        const wider = b.scopes.filter((s) => !principal.scopes.includes(s));
        if (wider.length > 0)
          throw new AdminError('forbidden', `scopes beyond this token's: ${wider.join(', ')}`);
      }
      const expiresAt = b.expires_at === undefined ? null : Date.parse(b.expires_at);
      if (expiresAt !== null && expiresAt <= ctx.clock())
        throw new AdminError('invalid_request', 'expires_at must be in the future');
      if (userId !== null) {
        const u = await ctx.db
          .selectFrom('users')
          .select('id')
          .where('id', '=', userId)
          .where('tenant_id', '=', tenantId)
          .executeTakeFirst();
        if (!u) throw new AdminError('invalid_request', `unknown user ${userId}`);
      }
      const taken = await ctx.db
        .selectFrom('admin_tokens')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('name', '=', b.name)
        .executeTakeFirst();
      if (taken) throw new AdminError('conflict', NAME_TAKEN);
      const id = newId();
      const value = newTokenValue();
      // Stored in the canonical scope order, as the config writes them.
      const scopes = SCOPES.filter((s) => b.scopes.includes(s));
      const token = await orConflict(NAME_TAKEN, () =>
        commitChange(ctx, req, principal, tenantId, async (trx) => {
          await trx
            .insertInto('admin_tokens')
            .values({
              id,
              tenant_id: tenantId,
              name: b.name,
              token_hash: sha256(value),
              scopes: JSON.stringify(scopes),
              read_only: b.read_only ? 1 : 0,
              expires_at: expiresAt,
              position: await nextTokenPosition(trx, tenantId),
              created_at: ctx.clock(),
              user_id: userId,
            })
            .execute();
          const t = repr(
            await trx.selectFrom('admin_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
          );
          return {
            changes: [
              { action: 'token.created', objectType: 'access_token', objectId: id, before: null, after: t },
            ],
            result: t,
          };
        }),
      );
      return { ...token, value };
    },
  },
  {
    ...base,
    method: 'GET',
    path: '/access_tokens/:token_id',
    operationId: 'getAccessToken',
    summary: 'Get an access token (never its value)',
    write: false,
    params,
    response: { status: 200, schema: tokenSchema },
    async handler(ctx, principal, req, reply) {
      const { token_id } = req.params as { token_id: string };
      return withEtag(reply, (await load(ctx, principal, token_id)).token);
    },
  },
  {
    ...base,
    method: 'DELETE',
    path: '/access_tokens/:token_id',
    operationId: 'deleteAccessToken',
    summary: 'Delete (revoke) an access token',
    write: true,
    params,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const { token_id } = req.params as { token_id: string };
      const { row, token } = await load(ctx, principal, token_id);
      checkIfMatch(req, token);
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        await trx.deleteFrom('admin_tokens').where('id', '=', token_id).execute();
        await closeTokenGap(trx, tenantId, row.position);
        return {
          changes: [
            {
              action: 'token.deleted',
              objectType: 'access_token',
              objectId: token_id,
              before: token,
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
