/**
 * `strict`: one atomic authrep through the authorization core per call (the same code and counters the
 * backend's Service Management API uses): exact under any concurrency, across any number of gateways.
 * With in-process stores (and auth view cache hits) the verdict comes back without a promise.
 */
import { type AuthOutcome, authorize, NO_EXTENSIONS } from '../../backend/authorize.js';
import type { BackendDeps } from '../../backend/deps.js';
import { emptyParams, type ParamMap } from '../../backend/params.js';
import type { AuthCall, Authorizer, RateLimitState, Verdict } from './types.js';

/** Limit state on every answer for services that send RateLimit fields; else only for 429s (Retry-After). */
const EXT_RATE = { ...NO_EXTENSIONS, limitHeaders: true, bodyUnused: true };
const EXT = { ...NO_EXTENSIONS, limitHeadersWhenLimited: true, bodyUnused: true };

/** The authrep parameters of a call, as a 3scale client would send them. */
export function authrepParams(call: AuthCall): ParamMap {
  const params: ParamMap = emptyParams();
  params.provider_key = call.svc.providerKey;
  params.service_id = call.svc.id;
  if (call.creds.kind === 'user_key') params.user_key = call.creds.userKey;
  else {
    params.app_id = call.creds.appId;
    if (call.creds.appKey !== undefined) params.app_key = call.creds.appKey;
  }
  if (call.referrer !== undefined) params.referrer = call.referrer;
  params.usage = call.usage;
  return params;
}

function rateOf(o: AuthOutcome & { kind: 'status' }): RateLimitState | undefined {
  const h = o.limitHeaders;
  if (h === null || h.max === null || h.remaining < 0) return undefined;
  return { limit: h.max, remaining: h.remaining, reset: Math.max(h.reset, 0) };
}

const AUTH_FAILED: Verdict = Object.freeze({ ok: false, code: 'auth_failed' });

/** Maps the core's outcome to the gateway's verdict. */
export function verdictOf(o: AuthOutcome): Verdict {
  if (o.kind !== 'status') return AUTH_FAILED; // unknown keys and apps, bad credentials of any kind
  const rate = rateOf(o);
  if (o.authorized)
    return rate === undefined ? { ok: true, event: o.event } : { ok: true, event: o.event, rate };
  if (o.denyCode !== 'limits_exceeded') return AUTH_FAILED;
  const reset = o.limitHeaders?.reset;
  return {
    ok: false,
    code: 'limits_exceeded',
    ...(reset !== undefined && reset >= 0 ? { retryAfter: reset } : {}),
    ...(rate === undefined ? {} : { rate }),
  };
}

/**
 * One authrep of `call` through the core over `deps`: the verdict, synchronously when every store answer
 * was (in-process stores, cache hits, local counting), else a promise. Throws or rejects on store faults.
 */
export function decideWith(deps: BackendDeps, call: AuthCall): Verdict | Promise<Verdict> {
  const o = authorize(deps, {
    endpoint: 'authrep',
    params: authrepParams(call),
    invalidUtf8: false,
    ext: call.svc.rateLimitHeaders ? EXT_RATE : EXT,
  });
  return o instanceof Promise ? o.then(verdictOf) : verdictOf(o);
}

export function createStrictAuthorizer(deps: BackendDeps): Authorizer {
  return {
    decide(call) {
      return decideWith(deps, call);
    },
    async close() {},
  };
}
