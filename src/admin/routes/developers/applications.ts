/**
 * Applications: list (tenant-wide or per account, filters service_id, plan_id, state), create (with
 * generated credentials fitting the service's auth mode), get, update, delete.
 */
import type { Kysely } from 'kysely';
import { findApp, withLists } from '../../../store/sql/repo/developers-apps.js';
import { closeAppGap, nextAppPosition } from '../../../store/sql/repo/developers-positions.js';
import { newAppId, newId } from '../../../store/sql/repo/ids.js';
import { getService } from '../../../store/sql/repo/services.js';
import type { DB } from '../../../store/sql/schema.js';
import { assertServiceAccess, type Principal, requireTenant } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, decodeCursor, page, pageSchema, withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute } from '../../route.js';
import { loadAccount } from './accounts.js';
import {
  APP_STATES,
  type App,
  appParams,
  appRepr,
  appSchema,
  audited,
  loadApp,
  newAppKey,
  newUserKey,
} from './app-common.js';
import { idParams, listQuery, nullableStr, obj, orConflict, str, URL_SCHEMA } from './common.js';

interface ListFilters {
  limit: number;
  cursor?: string;
  service_id?: string;
  plan_id?: string;
  state?: string;
  account_id?: string;
}

async function listApps(ctx: AdminContext, principal: Principal, q: ListFilters) {
  const tenantId = requireTenant(principal);
  const after = decodeCursor(q.cursor);
  let sel = ctx.db
    .selectFrom('applications')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('id')
    .limit(q.limit + 1);
  if (after !== null) sel = sel.where('id', '>', after);
  if (q.service_id !== undefined) sel = sel.where('service_id', '=', q.service_id);
  if (q.plan_id !== undefined) sel = sel.where('plan_id', '=', q.plan_id);
  if (q.state !== undefined) sel = sel.where('state', '=', q.state);
  if (q.account_id !== undefined) sel = sel.where('account_id', '=', q.account_id);
  if (principal.serviceIds) {
    if (principal.serviceIds.length === 0) return { items: [], next_cursor: null };
    sel = sel.where('service_id', 'in', [...principal.serviceIds]);
  }
  const rows = await withLists(ctx.db, await sel.execute());
  return page(rows.map(appRepr), q.limit, (a) => a.id);
}

/** Whether the plan asks for approval (a column the catalog may add; absent = no). */
function approvalRequired(plan: object): boolean {
  const v = (plan as Record<string, unknown>).approval_required;
  return v === true || v === 1 || v === '1';
}

interface CreateBody {
  name: string;
  description?: string;
  service_id: string;
  plan_id: string;
  user_key?: string;
  app_id?: string;
  app_key?: string;
  generate_app_key?: boolean;
  redirect_url?: string;
}

async function credentialTaken(db: Kysely<DB>, serviceId: string, appId: string, userKey: string | null) {
  const r = await db
    .selectFrom('applications')
    .select('id')
    .where('service_id', '=', serviceId)
    .where((eb) =>
      eb.or([eb('app_id', '=', appId), ...(userKey === null ? [] : [eb('user_key', '=', userKey)])]),
    )
    .executeTakeFirst();
  return r !== undefined;
}

const CREDENTIAL_TAKEN = 'app_id or user_key already used in this service';
const filters = {
  service_id: str(64),
  plan_id: str(),
  state: { type: 'string', enum: APP_STATES },
};

export const APPLICATION_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: '/applications',
    operationId: 'listApplications',
    summary: "List the tenant's applications (filters: service_id, plan_id, state, account_id)",
    tags: ['applications'],
    scope: 'management',
    write: false,
    query: listQuery({ ...filters, account_id: str() }),
    response: { status: 200, schema: pageSchema(appSchema) },
    handler: (ctx, principal, req) => listApps(ctx, principal, req.query as ListFilters),
  },
  {
    method: 'GET',
    path: '/accounts/:account_id/applications',
    operationId: 'listAccountApplications',
    summary: "List an account's applications",
    tags: ['applications'],
    scope: 'management',
    write: false,
    params: idParams('account_id'),
    query: listQuery(filters),
    response: { status: 200, schema: pageSchema(appSchema) },
    async handler(ctx, principal, req) {
      const { account_id } = req.params as { account_id: string };
      await loadAccount(ctx, requireTenant(principal), account_id);
      return listApps(ctx, principal, { ...(req.query as ListFilters), account_id });
    },
  },
  {
    method: 'POST',
    path: '/accounts/:account_id/applications',
    operationId: 'createApplication',
    summary: 'Create an application on a plan (pending when the plan requires approval)',
    tags: ['applications'],
    scope: 'management',
    write: true,
    params: idParams('account_id'),
    body: obj(
      {
        name: str(),
        description: { type: 'string', maxLength: 2000 },
        service_id: str(64),
        plan_id: str(),
        user_key: str(),
        app_id: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,255}$' },
        app_key: str(),
        generate_app_key: { type: 'boolean' },
        redirect_url: URL_SCHEMA,
      },
      ['name', 'service_id', 'plan_id'],
    ),
    response: { status: 201, schema: appSchema },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const { account_id } = req.params as { account_id: string };
      const b = req.body as CreateBody;
      await loadAccount(ctx, tenantId, account_id);
      const svc = await getService(ctx.db, tenantId, b.service_id);
      if (!svc) throw new AdminError('invalid_request', `unknown service ${b.service_id}`);
      try {
        assertServiceAccess(principal, svc.id);
      } catch {
        throw new AdminError('invalid_request', `unknown service ${b.service_id}`);
      }
      const plan = await ctx.db
        .selectFrom('plans')
        .selectAll()
        .where('id', '=', b.plan_id)
        .where('service_id', '=', svc.id)
        .executeTakeFirst();
      if (!plan) throw new AdminError('invalid_request', `unknown plan ${b.plan_id} of service ${svc.id}`);
      const appId = b.app_id ?? newAppId();
      const userKey = b.user_key ?? (svc.auth.mode === 'user_key' ? newUserKey() : null);
      const appKey = b.app_key ?? (b.generate_app_key ? newAppKey() : null);
      if (await credentialTaken(ctx.db, svc.id, appId, userKey))
        throw new AdminError('conflict', CREDENTIAL_TAKEN);
      const id = newId();
      const created = await orConflict(CREDENTIAL_TAKEN, () =>
        commitChange(ctx, req, principal, tenantId, async (trx) => {
          await trx
            .insertInto('applications')
            .values({
              id,
              tenant_id: tenantId,
              account_id,
              service_id: svc.id,
              plan_id: plan.id,
              app_id: appId,
              name: b.name,
              description: b.description ?? null,
              state: approvalRequired(plan) ? 'pending' : 'active',
              user_key: userKey,
              redirect_url: b.redirect_url ?? null,
              position: await nextAppPosition(trx, account_id),
            })
            .execute();
          if (appKey !== null)
            await trx
              .insertInto('app_keys')
              .values({ application_id: id, value: appKey, position: 0 })
              .execute();
          const a = appRepr((await findApp(trx, tenantId, id))!);
          return {
            changes: [
              {
                action: 'application.created',
                objectType: 'application',
                objectId: id,
                before: null,
                after: audited(a),
              },
            ],
            result: a,
          };
        }),
      );
      return created;
    },
  },
  {
    method: 'GET',
    path: '/applications/:application_id',
    operationId: 'getApplication',
    summary: 'Get an application with its credentials',
    tags: ['applications'],
    scope: 'management',
    write: false,
    params: appParams,
    response: { status: 200, schema: appSchema },
    async handler(ctx, principal, req, reply) {
      const { application_id } = req.params as { application_id: string };
      return withEtag(reply, (await loadApp(ctx, principal, application_id)).app);
    },
  },
  {
    method: 'PATCH',
    path: '/applications/:application_id',
    operationId: 'updateApplication',
    summary: "Change an application's name, description or redirect_url",
    tags: ['applications'],
    scope: 'management',
    write: true,
    params: appParams,
    body: obj({
      name: str(),
      description: nullableStr(2000),
      redirect_url: { type: ['string', 'null'], pattern: '^https?://', maxLength: 2048 },
    }),
    response: { status: 200, schema: appSchema },
    async handler(ctx, principal, req, reply) {
      const { application_id } = req.params as { application_id: string };
      const b = req.body as { name?: string; description?: string | null; redirect_url?: string | null };
      const { tenantId, app: cur } = await loadApp(ctx, principal, application_id);
      checkIfMatch(req, cur);
      const next: App = {
        ...cur,
        ...(b.name === undefined ? {} : { name: b.name }),
        ...(b.description === undefined ? {} : { description: b.description }),
        ...(b.redirect_url === undefined ? {} : { redirect_url: b.redirect_url }),
      };
      if (JSON.stringify(next) !== JSON.stringify(cur))
        await commitChange(ctx, req, principal, tenantId, async (trx) => {
          await trx
            .updateTable('applications')
            .set({ name: next.name, description: next.description, redirect_url: next.redirect_url })
            .where('id', '=', application_id)
            .execute();
          return {
            changes: [
              {
                action: 'application.updated',
                objectType: 'application',
                objectId: application_id,
                before: audited(cur),
                after: audited(next),
              },
            ],
            result: null,
          };
        });
      return withEtag(reply, (await loadApp(ctx, principal, application_id)).app);
    },
  },
  {
    method: 'DELETE',
    path: '/applications/:application_id',
    operationId: 'deleteApplication',
    summary: 'Delete an application (its credentials stop working at once)',
    tags: ['applications'],
    scope: 'management',
    write: true,
    params: appParams,
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { application_id } = req.params as { application_id: string };
      const { tenantId, app } = await loadApp(ctx, principal, application_id);
      checkIfMatch(req, app);
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        const row = await trx
          .selectFrom('applications')
          .select(['position', 'account_id'])
          .where('id', '=', application_id)
          .executeTakeFirstOrThrow();
        await trx.deleteFrom('applications').where('id', '=', application_id).execute();
        await closeAppGap(trx, row.account_id, row.position);
        return {
          changes: [
            {
              action: 'application.deleted',
              objectType: 'application',
              objectId: application_id,
              before: audited(app),
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
