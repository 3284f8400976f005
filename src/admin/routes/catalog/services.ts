/** Admin API: a tenant's services (list, create, get, update, delete). */
import type { Selectable, Transaction } from 'kysely';
import { resolveAuth, resolveGateway } from '../../../config/resolve.js';
import {
  AUTH_LOCATIONS,
  GATEWAY_ERROR_CODES,
  REMOTE_BACKEND_MODES,
  type ServiceDoc,
  STORE_FAILURE_MODES,
} from '../../../config/schema.js';
import { validateConfig } from '../../../config/validate.js';
import { AUTH_MODES, AUTHORIZATION_MODES, SERVICE_STATES } from '../../../domain/model.js';
import { compileRoutes, routeKey } from '../../../gateway/router.js';
import { sha256 } from '../../../store/digest.js';
import { newServiceId } from '../../../store/sql/repo/ids.js';
import type { ServiceAuth, ServiceAuthorization, ServiceGateway } from '../../../store/sql/repo/records.js';
import type { DB } from '../../../store/sql/schema.js';
import type { ServicesTable } from '../../../store/sql/schema-config.js';
import { requireTenant } from '../../auth.js';
import { commitChange, updateChanges } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import {
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
const URL_FIELD: JsonSchema = { type: 'string', pattern: '^https?://', maxLength: 2000 };
/** An optional number: null on an update removes it (the default applies again). */
const optInt = (minimum: number, maximum?: number): JsonSchema => ({
  type: ['integer', 'null'],
  minimum,
  ...(maximum !== undefined ? { maximum } : {}),
});
const AUTH: JsonSchema = body({
  mode: { type: 'string', enum: [...AUTH_MODES] },
  location: { type: 'string', enum: [...AUTH_LOCATIONS] },
  param: TEXT,
  key_param: TEXT,
  issuer: URL_FIELD,
  jwks_url: URL_FIELD,
  audience: TEXT,
});
const AUTHORIZATION: JsonSchema = body({
  mode: { type: 'string', enum: [...AUTHORIZATION_MODES] },
  on_store_failure: { type: 'string', enum: [...STORE_FAILURE_MODES] },
  flush_ms: optInt(1, 60_000),
  lease_size: optInt(1),
  store_timeout_ms: optInt(1, 10_000),
});
const ERROR_ANSWER: JsonSchema = body(
  {
    status: { type: 'integer', minimum: 200, maximum: 599 },
    content_type: TEXT,
    body: { type: 'string', maxLength: 65_536 },
  },
  ['status'],
);
const ERRORS: JsonSchema = {
  type: ['object', 'null'],
  properties: Object.fromEntries(GATEWAY_ERROR_CODES.map((c) => [c, ERROR_ANSWER])),
  additionalProperties: false,
};
const BACKEND: JsonSchema = {
  type: ['object', 'null'],
  required: ['url'],
  properties: {
    url: URL_FIELD,
    mode: { type: 'string', enum: [...REMOTE_BACKEND_MODES] },
    service_token: TEXT,
    provider_key: TEXT,
    service_id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    flush_ms: { type: 'integer', minimum: 10, maximum: 60_000 },
    timeout_ms: { type: 'integer', minimum: 1, maximum: 60_000 },
  },
  additionalProperties: false,
};
const FIELDS: Record<string, JsonSchema> = {
  name: TEXT,
  state: { type: 'string', enum: [...SERVICE_STATES] },
  default: { type: 'boolean' },
  upstream: { type: ['string', 'null'], pattern: '^https?://', maxLength: 2000 },
  hosts: { type: 'array', items: HOST, maxItems: 100 },
  path_prefix: { type: ['string', 'null'], pattern: '^/[^?#\\s]*$', maxLength: 2000 },
  auth: AUTH,
  authorization: AUTHORIZATION,
  referrer_filters_required: { type: 'boolean' },
  errors: ERRORS,
  rate_limit_headers: { type: 'boolean' },
  backend: BACKEND,
};

export const SERVICE_SCHEMA: JsonSchema = {
  type: 'object',
  required: [
    'id',
    'system_name',
    'name',
    'state',
    'default',
    'hosts',
    'path_prefix',
    'auth',
    'authorization',
    'errors',
    'rate_limit_headers',
    'backend',
  ],
  properties: { id: { type: 'string' }, system_name: { type: 'string' }, ...FIELDS },
};

type Row = Selectable<ServicesTable>;

/** The API representation of a service row. */
export function serviceRepr(r: Row) {
  const gw = JSON.parse(r.gateway ?? '{}') as ServiceGateway;
  return {
    id: r.id,
    system_name: r.system_name,
    name: r.name,
    state: r.state,
    default: r.is_default === 1,
    upstream: r.upstream,
    hosts: JSON.parse(r.hosts) as string[],
    path_prefix: gw.path_prefix ?? null,
    auth: JSON.parse(r.auth) as ServiceAuth,
    authorization: JSON.parse(r.authorization) as ServiceAuthorization,
    referrer_filters_required: r.referrer_filters_required === 1,
    errors: gw.errors ?? null,
    rate_limit_headers: gw.rate_limit_headers ?? false,
    backend: gw.backend ?? null,
  };
}

type Repr = ReturnType<typeof serviceRepr>;

/** The audit (and webhook) form: the remote backend's credentials appear as digests, never as themselves. */
function audited(s: Repr) {
  if (s.backend === null) return s;
  const b: Record<string, unknown> = { ...s.backend };
  for (const k of ['service_token', 'provider_key'] as const) {
    const v = s.backend[k];
    if (v !== undefined) b[k] = `sha256:${sha256(v).slice(0, 16)}`;
  }
  return { ...s, backend: b };
}

type Nullable<T> = { [K in keyof T]?: T[K] | null };

interface ServiceBody {
  system_name?: string;
  name?: string;
  state?: string;
  default?: boolean;
  upstream?: string | null;
  hosts?: string[];
  path_prefix?: string | null;
  auth?: Partial<ServiceAuth>;
  authorization?: Nullable<ServiceAuthorization>;
  referrer_filters_required?: boolean;
  errors?: ServiceGateway['errors'] | null;
  rate_limit_headers?: boolean;
  backend?: ServiceGateway['backend'] | null;
}

/** What a service's data-plane settings become once validated: stored exactly as `tollgate apply` would. */
interface Settings {
  readonly upstream: string | null;
  readonly hosts: string[];
  readonly auth: ServiceAuth;
  readonly authorization: ServiceAuthorization;
  readonly gateway: ServiceGateway;
}

/** Drops null values (null = "not set"). */
function present<T extends object>(o: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
}

/**
 * Validates a service's settings with the declarative config's own schema and checks (so what the API
 * stores always exports to a file that applies back), plus what the gateway needs to compile its routes.
 * Faults answer 400 with the body path of each.
 */
function validateSettings(systemName: string, input: Record<string, unknown>): Settings {
  const doc = {
    version: 1,
    tenants: [{ name: 'api', provider_key: 'api', services: [{ system_name: systemName, ...input }] }],
  };
  const v = validateConfig(doc);
  if (!v.ok) {
    const at = 'tenants[0].services[0]';
    const errors = v.faults.map((f) => {
      const rel = f.path.startsWith(`${at}.`) ? f.path.slice(at.length + 1) : f.path === at ? '' : f.path;
      return {
        path: `/body/${rel.replace(/\[(\d+)\]/g, '.$1').replace(/\./g, '/')}`.replace(/\/$/, ''),
        message: f.message,
        field: rel,
      };
    });
    throw new AdminError(
      'invalid_request',
      errors.map((e) => (e.field === '' ? e.message : `${e.field}: ${e.message}`)).join('; '),
      { errors: errors.map(({ path, message }) => ({ path, message })) },
    );
  }
  const s = v.doc.tenants[0]!.services[0]! as ServiceDoc;
  const settings: Settings = {
    upstream: s.upstream ?? null,
    hosts: s.hosts,
    auth: resolveAuth(s.auth),
    authorization: { ...s.authorization },
    gateway: resolveGateway(s),
  };
  if (settings.upstream !== null && settings.hosts.length > 0) {
    try {
      compileRoutes([
        {
          id: 'check',
          hosts: settings.hosts,
          upstream: settings.upstream,
          ...(settings.gateway.path_prefix !== undefined ? { pathPrefix: settings.gateway.path_prefix } : {}),
        },
      ]);
    } catch (err) {
      throw new AdminError(
        'invalid_request',
        `the gateway cannot route this service: ${(err as Error).message}`,
      );
    }
  }
  return settings;
}

/** The host + path prefix keys the gateway routes (routeKey: normalised as the router does). */
function routeKeys(hosts: readonly string[], prefix: string | undefined): string[] {
  return hosts.map((h) => routeKey(h, prefix));
}

/** 409 when another service (of any tenant: gateways serve them all) routes one of the same host + prefix. */
async function checkRoutesFree(trx: Transaction<DB>, serviceId: string | null, s: Settings): Promise<void> {
  if (s.hosts.length === 0) return;
  const mine = new Set(routeKeys(s.hosts, s.gateway.path_prefix));
  const others = await trx.selectFrom('services').select(['id', 'hosts', 'gateway']).execute();
  for (const o of others) {
    if (o.id === serviceId) continue;
    const gw = JSON.parse(o.gateway ?? '{}') as ServiceGateway;
    for (const k of routeKeys(JSON.parse(o.hosts) as string[], gw.path_prefix)) {
      if (mine.has(k)) {
        const [host, prefix] = k.split(' ');
        throw conflict(
          `host ${host} with path prefix "${prefix || '/'}" is already routed to another service`,
        );
      }
    }
  }
}

/** The authorization settings after an update: fields merged, null removes one, mode-only tuning follows the mode. */
function mergeAuthorization(
  cur: ServiceAuthorization,
  patch: Nullable<ServiceAuthorization>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cur };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = v;
  }
  if (patch.mode !== undefined && patch.mode !== cur.mode) {
    if (out.mode !== 'batched' && patch.flush_ms === undefined) delete out.flush_ms;
    if (out.mode !== 'leased' && patch.lease_size === undefined) delete out.lease_size;
  }
  return out;
}

/** The settings input of a create: the body's, with the auth mode's default. */
function createInput(b: ServiceBody): Record<string, unknown> {
  return present({
    upstream: b.upstream,
    hosts: b.hosts,
    path_prefix: b.path_prefix,
    auth: { ...b.auth, mode: b.auth?.mode ?? 'user_key' },
    authorization: b.authorization === undefined ? undefined : present(b.authorization),
    errors: b.errors,
    rate_limit_headers: b.rate_limit_headers,
    backend: b.backend,
  });
}

/** The settings input of an update: the current ones with the body's changes (null clears a field). */
function updateInput(cur: Repr, b: ServiceBody): Record<string, unknown> {
  const pick = <K extends keyof ServiceBody & keyof Repr>(k: K) => (b[k] !== undefined ? b[k] : cur[k]);
  return present({
    upstream: pick('upstream'),
    hosts: pick('hosts'),
    path_prefix: pick('path_prefix'),
    // auth is replaced whole (it gets its mode's defaults again).
    auth: b.auth !== undefined ? { ...b.auth, mode: b.auth.mode ?? 'user_key' } : cur.auth,
    authorization:
      b.authorization !== undefined
        ? mergeAuthorization(cur.authorization, b.authorization)
        : cur.authorization,
    errors: pick('errors'),
    rate_limit_headers: pick('rate_limit_headers'),
    backend: pick('backend'),
  });
}

/** The body touches a field kept in the `gateway` JSON column. */
const touchesGateway = (b: ServiceBody) =>
  b.path_prefix !== undefined ||
  b.errors !== undefined ||
  b.rate_limit_headers !== undefined ||
  b.backend !== undefined;

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
      const set = validateSettings(b.system_name, createInput(b));
      const out = await commitChange(ctx, req, principal, tenantId, async (trx) => {
        await checkRoutesFree(trx, null, set);
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
            upstream: set.upstream,
            hosts: JSON.stringify(set.hosts),
            auth: JSON.stringify(set.auth),
            authorization: JSON.stringify(set.authorization),
            referrer_filters_required: b.referrer_filters_required ? 1 : 0,
            is_default: isDefault ? 1 : 0,
            position,
            gateway: JSON.stringify(set.gateway),
          })
          .execute();
        const after = serviceRepr(await load(trx, id));
        return {
          changes: [
            {
              action: 'service.created',
              objectType: 'service',
              objectId: id,
              before: null,
              after: audited(after),
            },
          ],
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
      const out = await commitChange(ctx, req, principal, tenantId, async (trx) => {
        const cur = await ownService(trx, principal, service_id);
        const before = serviceRepr(cur);
        checkIfMatch(req, before);
        // Settings are checked as a whole (the fields depend on each other) when the body changes any;
        // a rename or a suspension never fails on them.
        const changesSettings =
          b.upstream !== undefined ||
          b.hosts !== undefined ||
          b.auth !== undefined ||
          b.authorization !== undefined ||
          touchesGateway(b);
        const set = changesSettings ? validateSettings(cur.system_name, updateInput(before, b)) : null;
        if (set !== null && (b.hosts !== undefined || b.path_prefix !== undefined))
          await checkRoutesFree(trx, service_id, set);
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
            ...(set !== null && b.upstream !== undefined ? { upstream: set.upstream } : {}),
            ...(set !== null && b.hosts !== undefined ? { hosts: JSON.stringify(set.hosts) } : {}),
            ...(set !== null && b.auth !== undefined ? { auth: JSON.stringify(set.auth) } : {}),
            ...(set !== null && b.authorization !== undefined
              ? { authorization: JSON.stringify(set.authorization) }
              : {}),
            ...(set !== null && touchesGateway(b) ? { gateway: JSON.stringify(set.gateway) } : {}),
            ...(b.referrer_filters_required !== undefined
              ? { referrer_filters_required: b.referrer_filters_required ? 1 : 0 }
              : {}),
          })
          .where('id', '=', service_id)
          .execute();
        const after = serviceRepr(await load(trx, service_id));
        return {
          changes: updateChanges('service', service_id, audited(before), audited(after)),
          result: after,
        };
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
            {
              action: 'service.deleted',
              objectType: 'service',
              objectId: service_id,
              before: audited(before),
              after: null,
            },
          ],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
];
