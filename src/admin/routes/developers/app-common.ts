/** What every application route shares: its representation, the audited form, tenant + service scoped loading. */
import { randomBytes } from 'node:crypto';
import type { AppWithLists } from '../../../store/sql/repo/developers-apps.js';
import { findApp } from '../../../store/sql/repo/developers-apps.js';
import { assertServiceAccess, type Principal, requireTenant } from '../../auth.js';
import type { AdminContext, JsonSchema } from '../../route.js';
import { notFound, obj } from './common.js';

export const APP_STATES = ['pending', 'active', 'suspended'];
export const MAX_APP_KEYS = 5;

export const appSchema: JsonSchema = obj(
  {
    id: { type: 'string' },
    account_id: { type: 'string' },
    service_id: { type: 'string' },
    plan_id: { type: 'string' },
    app_id: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    state: { type: 'string', enum: APP_STATES },
    user_key: { type: ['string', 'null'] },
    app_keys: { type: 'array', items: { type: 'string' } },
    referrer_filters: { type: 'array', items: { type: 'string' } },
    redirect_url: { type: ['string', 'null'] },
  },
  [
    'id',
    'account_id',
    'service_id',
    'plan_id',
    'app_id',
    'name',
    'description',
    'state',
    'user_key',
    'app_keys',
    'referrer_filters',
    'redirect_url',
  ],
);

export function appRepr(a: AppWithLists) {
  const r = a.row;
  return {
    id: r.id,
    account_id: r.account_id,
    service_id: r.service_id,
    plan_id: r.plan_id,
    app_id: r.app_id,
    name: r.name,
    description: r.description,
    state: r.state,
    user_key: r.user_key,
    app_keys: a.appKeys,
    referrer_filters: a.referrerFilters,
    redirect_url: r.redirect_url,
  };
}
export type App = ReturnType<typeof appRepr>;

/** The audit form of an application: credentials (user_key, app keys) are never recorded. */
export function audited(a: App) {
  const { user_key: _u, app_keys, ...rest } = a;
  return { ...rest, app_key_count: app_keys.length };
}

/** The application, or 404 for a missing one, another tenant's, or one of a service the member cannot see. */
export async function loadApp(ctx: AdminContext, principal: Principal, id: string) {
  const tenantId = requireTenant(principal);
  const a = await findApp(ctx.db, tenantId, id);
  if (!a) throw notFound('application', id);
  try {
    assertServiceAccess(principal, a.row.service_id);
  } catch {
    throw notFound('application', id);
  }
  return { tenantId, app: appRepr(a) };
}

/** A generated user_key: 32 hex digits. */
export const newUserKey = (): string => randomBytes(16).toString('hex');
/** A generated app_key: 32 hex digits. */
export const newAppKey = (): string => randomBytes(16).toString('hex');

export const appParams: JsonSchema = {
  type: 'object',
  required: ['application_id'],
  properties: { application_id: { type: 'string', minLength: 1, maxLength: 255 } },
  additionalProperties: false,
};
