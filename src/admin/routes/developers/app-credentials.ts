/**
 * Application credentials: app keys (at most 5, generated when no value is given), user_key
 * regeneration, and referrer filters. A new key works, a deleted one is refused, as soon as the call returns.
 */
import type { FastifyRequest } from 'fastify';
import { nextListPosition } from '../../../store/sql/repo/developers-apps.js';
import type { Principal } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute, JsonSchema } from '../../route.js';
import {
  type App,
  appParams,
  appSchema,
  audited,
  loadApp,
  MAX_APP_KEYS,
  newAppKey,
  newUserKey,
} from './app-common.js';
import { idParams, obj, orConflict } from './common.js';

const valueList: JsonSchema = obj(
  {
    items: { type: 'array', items: obj({ value: { type: 'string' } }, ['value']) },
    next_cursor: { type: 'null' },
  },
  ['items', 'next_cursor'],
);

const LISTS = {
  keys: { table: 'app_keys', field: 'app_keys', object: 'key', max: MAX_APP_KEYS, secret: true },
  referrer_filters: {
    table: 'referrer_filters',
    field: 'referrer_filters',
    object: 'referrer_filter',
    max: 50,
    secret: false,
  },
} as const;
type ListName = keyof typeof LISTS;

/** Values in the path are base64url for referrer filters (they hold `*`, `/` and `.`); keys are plain. */
function pathValue(list: ListName, raw: string): string {
  if (list === 'keys') return raw;
  const v = Buffer.from(raw, 'base64url').toString('utf8');
  if (v === '' || Buffer.from(v, 'utf8').toString('base64url') !== raw)
    throw new AdminError('invalid_request', 'the filter must be base64url-encoded in the path');
  return v;
}

async function addValue(ctx: AdminContext, principal: Principal, req: FastifyRequest, list: ListName) {
  const spec = LISTS[list];
  const { application_id } = req.params as { application_id: string };
  const { value: given } = req.body as { value?: string };
  const { tenantId, app } = await loadApp(ctx, principal, application_id);
  const have = app[spec.field];
  if (have.length >= spec.max)
    throw new AdminError('conflict', `at most ${spec.max} ${list} per application`);
  if (given === undefined && list !== 'keys') throw new AdminError('invalid_request', 'value is required');
  const value = given ?? newAppKey();
  if (have.includes(value))
    throw new AdminError('conflict', `the application already has this ${spec.object}`);
  await orConflict(`the application already has this ${spec.object}`, () =>
    commitChange(ctx, req, principal, tenantId, async (trx) => {
      await trx
        .insertInto(spec.table)
        .values({ application_id, value, position: await nextListPosition(trx, spec.table, application_id) })
        .execute();
      return {
        changes: [
          {
            action: `${spec.object}.created`,
            objectType: spec.object,
            objectId: application_id,
            before: null,
            after: spec.secret ? { application_id } : { application_id, value },
          },
        ],
        result: null,
      };
    }),
  );
  return { value };
}

async function removeValue(
  ctx: AdminContext,
  principal: Principal,
  req: FastifyRequest,
  list: ListName,
  raw: string,
) {
  const spec = LISTS[list];
  const { application_id } = req.params as { application_id: string };
  // The application first: another tenant's answers 404 whatever the path holds.
  const { tenantId, app } = await loadApp(ctx, principal, application_id);
  const value = pathValue(list, raw);
  if (!app[spec.field].includes(value)) throw new AdminError('not_found', `no such ${spec.object}`);
  await commitChange(ctx, req, principal, tenantId, async (trx) => {
    await trx
      .deleteFrom(spec.table)
      .where('application_id', '=', application_id)
      .where('value', '=', value)
      .execute();
    return {
      changes: [
        {
          action: `${spec.object}.deleted`,
          objectType: spec.object,
          objectId: application_id,
          before: spec.secret ? { application_id } : { application_id, value },
          after: null,
        },
      ],
      result: null,
    };
  });
}

function listRoutes(list: ListName, param: string, what: string): AdminRoute[] {
  const base = { tags: ['applications'], scope: 'management' } as const;
  const op = list === 'keys' ? 'AppKey' : 'ReferrerFilter';
  return [
    {
      ...base,
      method: 'GET',
      path: `/applications/:application_id/${list}`,
      operationId: `list${op}s`,
      summary: `List an application's ${what}`,
      write: false,
      params: appParams,
      response: { status: 200, schema: valueList },
      async handler(ctx, principal, req) {
        const { application_id } = req.params as { application_id: string };
        const { app } = await loadApp(ctx, principal, application_id);
        return { items: app[LISTS[list].field].map((value) => ({ value })), next_cursor: null };
      },
    },
    {
      ...base,
      method: 'POST',
      path: `/applications/:application_id/${list}`,
      operationId: `create${op}`,
      summary: `Add ${what === 'app keys' ? 'an app key (generated when no value is given; at most 5)' : 'a referrer filter'}`,
      write: true,
      params: appParams,
      body: obj(
        { value: { type: 'string', minLength: 1, maxLength: 255 } },
        list === 'keys' ? [] : ['value'],
      ),
      response: { status: 201, schema: obj({ value: { type: 'string' } }, ['value']) },
      handler: (ctx, principal, req) => addValue(ctx, principal, req, list),
    },
    {
      ...base,
      method: 'DELETE',
      path: `/applications/:application_id/${list}/:${param}`,
      operationId: `delete${op}`,
      summary: `Delete one of an application's ${what}${list === 'keys' ? '' : ' (base64url in the path)'}`,
      write: true,
      params: idParams('application_id', param),
      response: { status: 204 },
      async handler(ctx, principal, req, reply) {
        await removeValue(ctx, principal, req, list, (req.params as Record<string, string>)[param]!);
        reply.code(204);
        return undefined;
      },
    },
  ];
}

export const APP_CREDENTIAL_ROUTES: readonly AdminRoute[] = [
  ...listRoutes('keys', 'key', 'app keys'),
  ...listRoutes('referrer_filters', 'filter', 'referrer filters'),
  {
    method: 'POST',
    path: '/applications/:application_id/user_key/regenerate',
    operationId: 'regenerateUserKey',
    summary: "Replace an application's user_key with a new one (the old one is refused at once)",
    tags: ['applications'],
    scope: 'management',
    write: true,
    params: appParams,
    response: { status: 200, schema: appSchema },
    async handler(ctx, principal, req, reply) {
      const { application_id } = req.params as { application_id: string };
      const { tenantId, app } = await loadApp(ctx, principal, application_id);
      const next: App = { ...app, user_key: newUserKey() };
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        await trx
          .updateTable('applications')
          .set({ user_key: next.user_key })
          .where('id', '=', application_id)
          .execute();
        return {
          changes: [
            {
              action: 'application.user_key_regenerated',
              objectType: 'application',
              objectId: application_id,
              before: audited(app),
              after: audited(next),
            },
          ],
          result: null,
        };
      });
      return withEtag(reply, next);
    },
  },
];
