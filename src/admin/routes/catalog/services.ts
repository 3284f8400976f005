/** Admin API: a tenant's services (list, create, get, update, delete). */
import type { Selectable, Transaction } from 'kysely';
import { resolveAuth } from '../../../config/resolve.js';
import { AUTH_LOCATIONS, STORE_FAILURE_MODES } from '../../../config/schema.js';
import { AUTH_MODES, AUTHORIZATION_MODES, SERVICE_STATES } from '../../../domain/model.js';
import { newServiceId } from '../../../store/sql/repo/ids.js';
import type { ServiceAuth } from '../../../store/sql/repo/records.js';
import type { DB } from '../../../store/sql/schema.js';
import type { ServicesTable } from '../../../store/sql/schema-config.js';
import { requireTenant } from '../../auth.js';
import { commitChange, updateChanges } from '../../change.js';
import { checkIfMatch, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import {
  badField,
  body,
  conflict,
  FORCE_QUERY,
  listQuery,
  nextPosition,
  ownService,
  pageOf,
  params,
  pathParams,
  posKey,
  renumber,
  SYSTEM_NAME,
  TEXT,
} from './common.js';

const HOST = { type: 'string', pattern: '^[A-Za-z0-9*][A-Za-z0-9.:-]{0,252}$' };
const AUTH: JsonSchema = body({
  mode: { type: 'string', enum: [...AUTH_MODES] },
  location: { type: 'string', enum: [...AUTH_LOCATIONS] },
  param: TEXT,
  key_param: TEXT,
  issuer: { type: 'string', pattern: '^https?://', maxLength: 2000 },
});
const AUTHORIZATION: JsonSchema = body({
  mode: { type: 'string', enum: [...AUTHORIZATION_MODES] },
  on_store_failure: { type: 'string', enum: [...STORE_FAILURE_MODES] },
});
const FIELDS: Record<string, JsonSchema> = {
  name: TEXT,
  state: { type: 'string', enum: [...SERVICE_STATES] },
  default: { type: 'boolean' },
  upstream: { type: ['string', 'null'], pattern: '^https?://', maxLength: 2000 },
  hosts: { type: 'array', items: HOST, maxItems: 100 },
  auth: AUTH,
  authorization: AUTHORIZATION,
  referrer_filters_required: { type: 'boolean' },
};

export const SERVICE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'system_name', 'name', 'state', 'default', 'hosts', 'auth', 'authorization'],
  properties: { id: { type: 'string' }, system_name: { type: 'string' }, ...FIELDS },
};

type Row = Selectable<ServicesTable>;

/** The API representation of a service row. */
export function serviceRepr(r: Row) {
  return {
    id: r.id,
    system_name: r.system_name,
    name: r.name,
    state: r.state,
    default: r.is_default === 1,
    upstream: r.upstream,
    hosts: JSON.parse(r.hosts) as string[],
    auth: JSON.parse(r.auth) as ServiceAuth,
    authorization: JSON.parse(r.authorization) as Record<string, string>,
    referrer_filters_required: r.referrer_filters_required === 1,
  };
}

interface ServiceBody {
  system_name?: string;
  name?: string;
  state?: string;
  default?: boolean;
  upstream?: string | null;
  hosts?: string[];
  auth?: {
    mode?: (typeof AUTH_MODES)[number];
    location?: 'query' | 'header';
    param?: string;
    key_param?: string;
    issuer?: string;
  };
  authorization?: { mode?: string; on_store_failure?: string };
  referrer_filters_required?: boolean;
}

/** Auth settings with the defaults of their mode, as the config resolves them. */
function authOf(a: NonNullable<ServiceBody['auth']>): ServiceAuth {
  const mode = a.mode ?? 'user_key';
  if (a.key_param !== undefined && mode !== 'app_id')
    throw badField('auth/key_param', 'only for mode app_id');
  if (a.issuer !== undefined && mode !== 'oidc') throw badField('auth/issuer', 'only for mode oidc');
  return resolveAuth({ ...a, mode });
}

function checkUrl(field: string, v: string | null | undefined): void {
  if (v === null || v === undefined) return;
  try {
    new URL(v);
  } catch {
    throw badField(field, 'not a URL');
  }
}

async function load(trx: Transaction<DB>, id: string): Promise<Row> {
  return trx.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

const ref = { service_id: 'service_id' };
const params1 = pathParams('service_id');

export const SERVICE_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: '/services',
    operationId: 'listServices',
    summary: 'List services',
    tags: ['services'],
    scope: 'management',
    write: false,
    query: listQuery({ state: { type: 'string', enum: [...SERVICE_STATES] }, system_name: SYSTEM_NAME }),
    response: { status: 200, schema: pageSchema(SERVICE_SCHEMA) },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const q = req.query as { limit: number; cursor?: string; state?: string; system_name?: string };
      let sel = ctx.db.selectFrom('services').selectAll().where('tenant_id', '=', tenantId);
      if (q.state) sel = sel.where('state', '=', q.state);
      if (q.system_name) sel = sel.where('system_name', '=', q.system_name);
      const rows = (await sel.execute()).filter(
        (r) => !principal.serviceIds || principal.serviceIds.includes(r.id),
      );
      return pageOf(rows, (r) => posKey(r.position, r.id), q, serviceRepr);
    },
  },
  {
    method: 'POST',
    path: '/services',
    operationId: 'createService',
    summary: 'Create a service',
    tags: ['services'],
    scope: 'management',
    write: true,
    body: body({ system_name: SYSTEM_NAME, ...FIELDS }, ['system_name']),
    response: { status: 201, schema: SERVICE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const b = req.body as ServiceBody & { system_name: string };
      checkUrl('upstream', b.upstream);
      const auth = authOf(b.auth ?? {});
      const out = await commitChange(ctx, req, principal, tenantId, async (trx) => {
        const taken = await trx
          .selectFrom('services')
          .select('id')
          .where('tenant_id', '=', tenantId)
          .where('system_name', '=', b.system_name)
          .executeTakeFirst();
        if (taken) throw conflict(`a service with system_name ${b.system_name} exists`);
        let id = newServiceId();
        while (await trx.selectFrom('services').select('id').where('id', '=', id).executeTakeFirst())
          id = newServiceId();
        const position = await nextPosition(trx, 'services', 'tenant_id', tenantId);
        // The first service is the tenant's default, as in the config.
        const isDefault = position === 0 || b.default === true;
        if (isDefault)
          await trx
            .updateTable('services')
            .set({ is_default: 0 })
            .where('tenant_id', '=', tenantId)
            .execute();
        await trx
          .insertInto('services')
          .values({
            id,
            tenant_id: tenantId,
            system_name: b.system_name,
            name: b.name ?? b.system_name,
            state: b.state ?? 'active',
            upstream: b.upstream ?? null,
            hosts: JSON.stringify(b.hosts ?? []),
            auth: JSON.stringify(auth),
            authorization: JSON.stringify({
              mode: b.authorization?.mode ?? 'strict',
              on_store_failure: b.authorization?.on_store_failure ?? 'deny',
            }),
            referrer_filters_required: b.referrer_filters_required ? 1 : 0,
            is_default: isDefault ? 1 : 0,
            position,
          })
          .execute();
        const after = serviceRepr(await load(trx, id));
        return {
          changes: [{ action: 'service.created', objectType: 'service', objectId: id, before: null, after }],
          result: after,
        };
      });
      reply.header('location', `/admin/api/services/${out.id}`);
      return withEtag(reply, out);
    },
  },
  {
    method: 'GET',
    path: '/services/:service_id',
    operationId: 'getService',
    summary: 'Get a service',
    tags: ['services'],
    scope: 'management',
    write: false,
    params: params1,
    response: { status: 200, schema: SERVICE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const { service_id } = params<typeof ref>(req);
      return withEtag(reply, serviceRepr(await ownService(ctx.db, principal, service_id)));
    },
  },
  {
    method: 'PATCH',
    path: '/services/:service_id',
    operationId: 'updateService',
    summary: 'Update a service (system_name cannot change)',
    tags: ['services'],
    scope: 'management',
    write: true,
    params: params1,
    body: body(FIELDS),
    response: { status: 200, schema: SERVICE_SCHEMA },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const { service_id } = params<typeof ref>(req);
      const b = req.body as ServiceBody;
      checkUrl('upstream', b.upstream);
      const auth = b.auth === undefined ? undefined : authOf(b.auth);
      const out = await commitChange(ctx, req, principal, tenantId, async (trx) => {
        const cur = await ownService(trx, principal, service_id);
        const before = serviceRepr(cur);
        checkIfMatch(req, before);
        if (b.default === false && cur.is_default === 1)
          throw conflict('this is the default service: make another service the default instead');
        if (b.default === true && cur.is_default === 0)
          await trx
            .updateTable('services')
            .set({ is_default: 0 })
            .where('tenant_id', '=', tenantId)
            .execute();
        await trx
          .updateTable('services')
          .set({
            ...(b.name !== undefined ? { name: b.name } : {}),
            ...(b.state !== undefined ? { state: b.state } : {}),
            ...(b.default === true ? { is_default: 1 } : {}),
            ...(b.upstream !== undefined ? { upstream: b.upstream } : {}),
            ...(b.hosts !== undefined ? { hosts: JSON.stringify(b.hosts) } : {}),
            ...(auth !== undefined ? { auth: JSON.stringify(auth) } : {}),
            ...(b.authorization !== undefined
              ? {
                  authorization: JSON.stringify({
                    mode: b.authorization.mode ?? before.authorization.mode ?? 'strict',
                    on_store_failure:
                      b.authorization.on_store_failure ?? before.authorization.on_store_failure ?? 'deny',
                  }),
                }
              : {}),
            ...(b.referrer_filters_required !== undefined
              ? { referrer_filters_required: b.referrer_filters_required ? 1 : 0 }
              : {}),
          })
          .where('id', '=', service_id)
          .execute();
        const after = serviceRepr(await load(trx, service_id));
        return { changes: updateChanges('service', service_id, before, after), result: after };
      });
      return withEtag(reply, out);
    },
  },
  {
    method: 'DELETE',
    path: '/services/:service_id',
    operationId: 'deleteService',
    summary: 'Delete a service with its metrics, plans and (with ?force=true) applications',
    tags: ['services'],
    scope: 'management',
    write: true,
    params: params1,
    query: FORCE_QUERY,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const tenantId = requireTenant(principal);
      const { service_id } = params<typeof ref>(req);
      const { force } = req.query as { force: boolean };
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        const cur = await ownService(trx, principal, service_id);
        const before = serviceRepr(cur);
        checkIfMatch(req, before);
        const apps = await trx
          .selectFrom('applications')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('service_id', '=', service_id)
          .executeTakeFirst();
        const n = Number(apps?.n ?? 0);
        if (n > 0 && !force)
          throw conflict(`the service has ${n} application(s): pass ?force=true to delete them with it`);
        await trx.deleteFrom('services').where('id', '=', service_id).execute();
        await renumber(trx, 'services', 'tenant_id', tenantId);
        if (cur.is_default === 1) {
          // The default moves to the first remaining service, as the config's rule would pick.
          const first = await trx
            .selectFrom('services')
            .select('id')
            .where('tenant_id', '=', tenantId)
            .orderBy('position')
            .executeTakeFirst();
          if (first)
            await trx.updateTable('services').set({ is_default: 1 }).where('id', '=', first.id).execute();
        }
        return {
          changes: [
            { action: 'service.deleted', objectType: 'service', objectId: service_id, before, after: null },
          ],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
];
