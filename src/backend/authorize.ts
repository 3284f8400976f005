/**
 * The authorization core of authorize / authrep / oauth_* (3scale §2.2): the processing order that decides
 * which error wins, the validators, and one atomic check-and-count per authrep. Returns an outcome value.
 */
import { type CompiledService, compileService } from '../domain/compiled-service.js';
import type { CounterResult } from '../domain/counters.js';
import {
  authrepPlan,
  type LimitHeaders,
  limitHeaders,
  limitKeys,
  limitsAllow,
  planLimits,
  type UsageReport,
  usageReports,
} from '../domain/limits.js';
import type { AppView, PlanView, ServiceView } from '../domain/model.js';
import { checkReferrer } from '../domain/referrer.js';
import { firstUnknownMetric, type ProcessedUsage, processUsageOf } from '../domain/usage.js';
import { secretEquals } from '../store/digest.js';
import type { BackendDeps } from './deps.js';
import { type BackendError, backendError, type DenyCode } from './errors.js';
import { type UsageEventPayload, usageEventOf } from './events.js';
import type { ParamMap } from './params.js';
import { idParam, lookup, providerKeySteps, serviceSteps } from './resolve.js';
import { drive, type Steps } from './steps.js';
import type { StatusBody } from './xml.js';

export type Endpoint = 'authorize' | 'authrep' | 'oauth_authorize' | 'oauth_authrep';

/** The `3scale-options` extensions (§4) in effect for a request. */
export interface Extensions {
  readonly noBody: boolean;
  readonly rejectionReasonHeader: boolean;
  readonly limitHeaders: boolean;
  readonly hierarchy: boolean;
  readonly flatUsage: boolean;
  readonly listAppKeys: boolean;
  /** Not a 3scale option: limit headers for limits_exceeded denials only (the gateway's Retry-After). */
  readonly limitHeadersWhenLimited?: boolean;
  /**
   * Not a 3scale option: the caller reads no status body (the gateway), so an authorized call without
   * limit headers builds no usage reports.
   */
  readonly bodyUnused?: boolean;
}

export const NO_EXTENSIONS: Extensions = Object.freeze({
  noBody: false,
  rejectionReasonHeader: false,
  limitHeaders: false,
  hierarchy: false,
  flatUsage: false,
  listAppKeys: false,
});

/** One auth call as the HTTP face hands it over. */
export interface AuthInput {
  readonly endpoint: Endpoint;
  readonly params: ParamMap;
  readonly invalidUtf8: boolean;
  readonly ext: Extensions;
}

/** What an auth call comes to. `status` = a 200/409 status answer. */
export type AuthOutcome =
  | { readonly kind: 'error'; readonly error: BackendError; readonly serviceId: string | null }
  | { readonly kind: 'bare'; readonly status: 403 }
  | {
      readonly kind: 'status';
      readonly authorized: boolean;
      readonly denyCode: DenyCode | null;
      readonly body: StatusBody;
      readonly limitHeaders: LimitHeaders | null;
      readonly event: UsageEventPayload | null;
    };

const isOauth = (e: Endpoint): boolean => e === 'oauth_authorize' || e === 'oauth_authrep';
const isAuthrep = (e: Endpoint): boolean => e === 'authrep' || e === 'oauth_authrep';
const NO_VALUES: readonly number[] = Object.freeze([]);
const NO_REPORTS = Object.freeze([]) as unknown as UsageReport[];
const BARE_403: AuthOutcome = Object.freeze({ kind: 'bare', status: 403 });

function fail(error: BackendError, serviceId: string | null = null): AuthOutcome {
  return { kind: 'error', error, serviceId };
}

function usageMap(p: ParamMap): ParamMap | undefined {
  const u = p.usage;
  return u !== undefined && typeof u === 'object' && !Array.isArray(u) ? u : undefined;
}

/** Runs one auth call through the processing order of §2.2. Rejects only on store faults. */
export async function authorizeRequest(deps: BackendDeps, input: AuthInput): Promise<AuthOutcome> {
  return authorize(deps, input);
}

/**
 * authorizeRequest without a promise when the stores answer synchronously (in-process stores, cache
 * hits): the outcome itself, else a promise of it. Throws (or rejects) only on store faults.
 */
export function authorize(deps: BackendDeps, input: AuthInput): AuthOutcome | Promise<AuthOutcome> {
  return drive(authSteps(deps, input));
}

/** Counter reads as a step: synchronous when the store can. */
function readCounters(deps: BackendDeps, keys: readonly string[]): number[] | Promise<number[]> {
  const c = deps.counters;
  return c.readSync !== undefined ? c.readSync(keys) : c.read(keys);
}

function* authSteps(deps: BackendDeps, input: AuthInput): Steps<AuthOutcome> {
  const { params: p, endpoint, ext } = input;
  if (input.invalidUtf8) return fail(backendError('not_valid_data'));
  const pk = yield* providerKeySteps(deps.authView, p);
  if (!pk.ok) return fail(pk.error);
  if (p.user_id !== undefined) return fail(backendError('end_users_no_longer_supported'));
  const rawUsage = usageMap(p);
  if (p.usage !== undefined && rawUsage === undefined) return BARE_403;
  const loaded = yield* serviceSteps(deps.authView, pk.providerKey, idParam(p, 'service_id'));
  if (!loaded.ok) return fail(loaded.error);
  const svc = loaded.service;
  const sid = svc.id;
  let appId = idParam(p, 'app_id');
  const userKey = idParam(p, 'user_key');
  if (isOauth(endpoint) && appId === undefined) return fail(backendError('application_not_found'), sid);
  if (appId !== undefined && userKey !== undefined) return fail(backendError('authentication_error'), sid);
  if (svc.authMode === 'user_key') {
    if (userKey === undefined) return fail(backendError('user_key_invalid'), sid);
    const found = (yield lookup.appIdByUserKey(deps.authView, sid, userKey)) as string | null;
    if (found === null) return fail(backendError('user_key_invalid', userKey), sid);
    appId = found;
  } else if (appId === undefined) {
    return fail(backendError('application_not_found'), sid);
  }
  const app = (yield lookup.application(deps.authView, sid, appId)) as AppView | null;
  if (app === null) return fail(backendError('application_not_found', appId), sid);
  const c = compileService(svc);
  if (ext.noBody && rawUsage !== undefined) {
    const unknown = firstUnknownMetric(rawUsage, c);
    if (unknown !== null) return fail(backendError('metric_invalid', unknown), sid);
  }
  const plan = (yield lookup.plan(deps.authView, sid, app.planId)) as PlanView | null;
  const rows = planLimits(plan, c);
  const now = deps.clock();

  const denial = runValidators(endpoint, svc, app, p);
  if (denial !== null) {
    // Denied before the Limits validator: usage is not parsed, reports show stored values.
    const values =
      rows.length === 0 ? [] : ((yield readCounters(deps, limitKeys(sid, app.id, rows, now))) as number[]);
    return statusOutcome(input, c, app, usageReports(rows, values, null, now), denial, null, null, now);
  }

  let usage: ProcessedUsage | null = null;
  if (rawUsage !== undefined) {
    const parsed = processUsageOf(rawUsage, c, ext.flatUsage);
    if (!parsed.ok) {
      const e = parsed.error;
      return fail(
        e.code === 'metric_invalid'
          ? backendError('metric_invalid', e.metric)
          : backendError('usage_value_invalid', e.metric, e.value ?? undefined),
        sid,
      );
    }
    usage = parsed.usage;
  }

  if (!isAuthrep(endpoint)) {
    const values =
      rows.length === 0 ? [] : ((yield readCounters(deps, limitKeys(sid, app.id, rows, now))) as number[]);
    const ok = limitsAllow(rows, values, usage);
    const reports = usageReports(rows, values, null, now);
    return statusOutcome(input, c, app, reports, ok ? null : 'limits_exceeded', usage, null, now);
  }

  const counted = usage !== null ? countable(usage) : null;
  // A frozen usage map (the gateway's, one per mapping outcome) gives a shared parsed usage: its plan is
  // reused per application within the minute (authrepPlan).
  const plan0 = authrepPlan(
    sid,
    app.id,
    rows,
    usage,
    counted,
    c.counted,
    now,
    rawUsage !== undefined && Object.isFrozen(rawUsage),
  );
  let stored: readonly number[] = NO_VALUES;
  let authorized = true;
  if (plan0.keys.length > 0) {
    const cs = deps.counters;
    const r = (yield cs.executeSync !== undefined
      ? cs.executeSync(plan0)
      : cs.execute(plan0)) as CounterResult;
    stored = r.values; // the limit rows' values come first (the plan's keys start with them)
    authorized = r.status !== 'denied';
  }
  const reports =
    authorized && ext.bodyUnused === true && !ext.limitHeaders
      ? NO_REPORTS
      : usageReports(rows, stored, authorized ? usage : null, now);
  let event: UsageEventPayload | null = null;
  const code = logCode(p);
  if (authorized && (counted !== null || code !== undefined))
    event = usageEventOf('authrep', sid, app.id, counted, code, now);
  return statusOutcome(input, c, app, reports, authorized ? null : 'limits_exceeded', usage, event, now);
}

/** Usage minus plain zero entries, or null when nothing is left (3scale reports nothing then). */
function countable(usage: ProcessedUsage): ProcessedUsage | null {
  let zeros = 0;
  for (const v of usage.values()) if (!v.set && v.value === 0) zeros++;
  if (zeros === usage.size) return null;
  if (zeros === 0) return usage;
  const out = new Map<string, { value: number; set: boolean }>();
  for (const [k, v] of usage) if (v.set || v.value !== 0) out.set(k, v);
  return out;
}

function logCode(p: ParamMap): string | undefined {
  const log = p.log;
  if (log === undefined || typeof log !== 'object' || Array.isArray(log)) return undefined;
  const code = log.code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

function keyMatches(keys: readonly string[], given: string): boolean {
  let ok = false;
  // Compare against every key in constant time per key, so timing does not reveal which one matched.
  for (const k of keys) if (secretEquals(k, given)) ok = true;
  return ok;
}

/** The validators before Limits, in the order of §2.2 step 11: the first denial, or null. */
function runValidators(endpoint: Endpoint, svc: ServiceView, app: AppView, p: ParamMap): Denial | null {
  const appKeyRaw = p.app_key;
  const appKey = typeof appKeyRaw === 'string' ? appKeyRaw.trim() : undefined;
  if (isOauth(endpoint)) {
    if (svc.authMode !== 'oidc') return { code: 'oauth_not_enabled' };
  }
  if (isOauth(endpoint) || svc.authMode === 'oidc') {
    if (appKey !== undefined && (appKey === '' || !keyMatches(app.appKeys, appKey))) {
      return { code: 'application_key_invalid', arg: appKey };
    }
  } else if (svc.authMode !== 'user_key' && app.appKeys.length > 0) {
    if (appKey === undefined || appKey === '' || !keyMatches(app.appKeys, appKey)) {
      return { code: 'application_key_invalid', arg: appKey };
    }
  }
  if (isOauth(endpoint)) {
    const url = p.redirect_url;
    const uri = p.redirect_uri;
    const useUrl = typeof url === 'string' && url !== '';
    const given = useUrl ? url : typeof uri === 'string' ? uri : '';
    if (given !== '' && given !== (app.redirectUrl ?? '')) {
      return { code: useUrl ? 'redirect_url_invalid' : 'redirect_uri_invalid', arg: given };
    }
  }
  const ref = p.referrer;
  const r = checkReferrer(
    svc.referrerFiltersRequired,
    app.referrerFilters,
    typeof ref === 'string' ? ref : undefined,
  );
  if (r !== 'ok') return { code: 'referrer_not_allowed', arg: r === 'missing' ? undefined : (ref as string) };
  if (app.state !== 'active') return { code: 'application_not_active' };
  if (svc.state !== 'active') return { code: 'service_not_active' };
  return null;
}

interface Denial {
  readonly code: DenyCode;
  readonly arg?: string | undefined;
}

function statusOutcome(
  input: AuthInput,
  c: CompiledService,
  app: AppView,
  reports: UsageReport[],
  denial: Denial | DenyCode | null,
  usage: ProcessedUsage | null,
  event: UsageEventPayload | null,
  now: number,
): AuthOutcome {
  const d: Denial | null = typeof denial === 'string' ? { code: denial } : denial;
  const { ext, endpoint, params: p } = input;
  let oauth: StatusBody['oauth'] = null;
  if (isOauth(endpoint)) {
    const field =
      typeof p.redirect_url !== 'string' && p.redirect_uri !== undefined ? 'redirect_uri' : 'redirect_url';
    oauth = { appId: app.id, key: app.appKeys[0] ?? '', redirectUrl: app.redirectUrl ?? '', field };
  }
  const body: StatusBody = {
    authorized: d === null,
    reason: d === null ? null : backendError(d.code, d.arg).message,
    oauth,
    planName: app.planName,
    reports,
    appKeys: ext.listAppKeys ? { appId: app.id, serviceId: c.service.id, keys: app.appKeys } : null,
    hierarchy: ext.hierarchy ? c.childrenByName : null,
  };
  const limited = d !== null && d.code === 'limits_exceeded';
  const headers =
    (ext.limitHeaders && (d === null || limited)) || (limited && ext.limitHeadersWhenLimited === true)
      ? limitHeaders(reports, usage, c, now)
      : null;
  return {
    kind: 'status',
    authorized: d === null,
    denyCode: d?.code ?? null,
    body,
    limitHeaders: headers,
    event,
  };
}
