/** Tenants (platform audience): list, create (with its provider key and first admin token), get, update, delete. */
import type { Selectable } from 'kysely';
import { sha256 } from '../../../store/digest.js';
import { newProviderKey, newTokenValue } from '../../../store/sql/repo/developers.js';
import { newId } from '../../../store/sql/repo/ids.js';
import type { TenantsTable } from '../../../store/sql/schema-config.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, decodeCursor, page, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute, JsonSchema } from '../../route.js';
import { idParams, iso, listQuery, notFound, obj, orConflict, SLUG, str } from './common.js';

const ALL_SCOPES = ['management', 'analytics', 'billing'];

const tenantSchema: JsonSchema = obj(
  {
    id: { type: 'string' },
    name: { type: 'string' },
    provider_key: { type: 'string' },
    config_version: { type: 'integer' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
  ['id', 'name', 'provider_key', 'config_version', 'created_at', 'updated_at'],
);

function repr(r: Selectable<TenantsTable>) {
  return {
    id: r.id,
    name: r.name,
    provider_key: r.provider_key,
    config_version: Number(r.config_version),
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
  };
}

/** The audit form: the provider key is a credential, never recorded. */
const audited = (t: ReturnType<typeof repr>) => ({ id: t.id, name: t.name });

async function load(ctx: AdminContext, id: string) {
  const r = await ctx.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) throw notFound('tenant', id);
  return repr(r);
}

const base = { tags: ['tenants'], scope: 'management', audience: 'platform' } as const;
const params = idParams('tenant_id');

export const TENANT_ROUTES: readonly AdminRoute[] = [
  {
    ...base,
    method: 'GET',
    path: '/tenants',
    operationId: 'listTenants',
    summary: 'List tenants by name',
    write: false,
    query: listQuery({ name: str(63) }),
    response: { status: 200, schema: pageSchema(tenantSchema) },
    async handler(ctx, _p, req) {
      const q = req.query as { limit: number; cursor?: string; name?: string };
      const after = decodeCursor(q.cursor);
      let sel = ctx.db
        .selectFrom('tenants')
        .selectAll()
        .orderBy('name')
        .limit(q.limit + 1);
      if (after !== null) sel = sel.where('name', '>', after);
      if (q.name !== undefined) sel = sel.where('name', '=', q.name);
      const rows = await sel.execute();
      return page(rows.map(repr), q.limit, (t) => t.name);
    },
  },
  {
    ...base,
    method: 'POST',
    path: '/tenants',
    operationId: 'createTenant',
    summary: 'Create a tenant; answers its provider key and a first admin token (shown once)',
    write: true,
    body: obj({ name: SLUG, provider_key: { type: 'string', minLength: 8, maxLength: 255 } }, ['name']),
    revealsSecret: true,
    response: {
      status: 201,
      schema: obj({ tenant: tenantSchema, admin_token: { type: 'object' } }, ['tenant', 'admin_token']),
    },
    async handler(ctx, principal, req) {
      const b = req.body as { name: string; provider_key?: string };
      const at = ctx.clock();
      const id = newId();
      const providerKey = b.provider_key ?? newProviderKey();
      const token = { id: newId(), name: 'admin', value: newTokenValue() };
      const taken = await ctx.db
        .selectFrom('tenants')
        .select('id')
        .where((eb) => eb.or([eb('name', '=', b.name), eb('provider_key', '=', providerKey)]))
        .executeTakeFirst();
      if (taken) throw new AdminError('conflict', 'a tenant with this name or provider key exists');
      const tenant = await orConflict('a tenant with this name or provider key exists', () =>
        commitChange(ctx, req, principal, id, async (trx) => {
          await trx
            .insertInto('tenants')
            .values({
              id,
              name: b.name,
              provider_key: providerKey,
              config_version: 1,
              created_at: at,
              updated_at: at,
            })
            .execute();
          await trx
            .insertInto('admin_tokens')
            .values({
              id: token.id,
              tenant_id: id,
              name: token.name,
              token_hash: sha256(token.value),
              scopes: JSON.stringify(ALL_SCOPES),
              read_only: 0,
              expires_at: null,
              position: 0,
              created_at: at,
              user_id: null,
            })
            .execute();
          const t = repr(
            await trx.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
          );
          return {
            changes: [
              {
                action: 'tenant.created',
                objectType: 'tenant',
                objectId: id,
                before: null,
                after: audited(t),
              },
              {
                action: 'token.created',
                objectType: 'access_token',
                objectId: token.id,
                before: null,
                after: { id: token.id, name: token.name, scopes: ALL_SCOPES },
              },
            ],
            result: t,
          };
        }),
      );
      return {
        tenant,
        admin_token: { id: token.id, name: token.name, scopes: ALL_SCOPES, value: token.value },
      };
    },
  },
  {
    ...base,
    method: 'GET',
    path: '/tenants/:tenant_id',
    operationId: 'getTenant',
    summary: 'Get a tenant',
    write: false,
    params,
    response: { status: 200, schema: tenantSchema },
    async handler(ctx, _p, req, reply) {
      const { tenant_id } = req.params as { tenant_id: string };
      return withEtag(reply, await load(ctx, tenant_id));
    },
  },
  {
    ...base,
    method: 'PATCH',
    path: '/tenants/:tenant_id',
    operationId: 'updateTenant',
    summary: 'Rename a tenant or change its provider key (live at once)',
    write: true,
    params,
    body: obj({ name: SLUG, provider_key: { type: 'string', minLength: 8, maxLength: 255 } }),
    response: { status: 200, schema: tenantSchema },
    async handler(ctx, principal, req, reply) {
      const { tenant_id } = req.params as { tenant_id: string };
      const b = req.body as { name?: string; provider_key?: string };
      const cur = await load(ctx, tenant_id);
      checkIfMatch(req, cur);
      const fields = (['name', 'provider_key'] as const).filter((k) => b[k] !== undefined && b[k] !== cur[k]);
      if (fields.length > 0)
        await orConflict('a tenant with this name or provider key exists', () =>
          commitChange(ctx, req, principal, tenant_id, async (trx) => {
            await trx
              .updateTable('tenants')
              .set({
                name: b.name ?? cur.name,
                provider_key: b.provider_key ?? cur.provider_key,
                updated_at: ctx.clock(),
              })
              .where('id', '=', tenant_id)
              .execute();
            const after = { ...cur, ...b };
            return {
              changes: [
                {
                  action: 'tenant.updated',
                  objectType: 'tenant',
                  objectId: tenant_id,
                  before: audited(cur),
                  after: { ...audited(after), fields },
                },
              ],
              result: null,
            };
          }),
        );
      return withEtag(reply, await load(ctx, tenant_id));
    },
  },
  {
    ...base,
    method: 'DELETE',
    path: '/tenants/:tenant_id',
    operationId: 'deleteTenant',
    summary: 'Delete a tenant and everything under it',
    write: true,
    params,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { tenant_id } = req.params as { tenant_id: string };
      const cur = await load(ctx, tenant_id);
      checkIfMatch(req, cur);
      await commitChange(ctx, req, principal, tenant_id, async (trx) => {
        await trx.deleteFrom('tenants').where('id', '=', tenant_id).execute();
        return {
          changes: [
            {
              action: 'tenant.deleted',
              objectType: 'tenant',
              objectId: tenant_id,
              before: audited(cur),
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
