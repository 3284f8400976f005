/**
 * The gateway's authorization seam: after credentials and mapping, one `Authorizer` decides each call.
 * Which one a service gets follows its `authorization.mode` (strict, batched, leased) or its remote
 * `backend`. An authorizer counts the usage it admits; it never records usage events (the gateway records
 * one per request when the response is done, with status, latency and bytes).
 */
import type { UsageEventPayload } from '../../backend/events.js';
import type { ParamMap } from '../../backend/params.js';
import type { DenyCode, GatewayService } from '../service.js';

/** Rate-limit state of the tightest limit the call touched (for `RateLimit-*` headers). */
export interface RateLimitState {
  /** The limit's maximum. */
  readonly limit: number;
  /** Calls like this one still allowed in the window. */
  readonly remaining: number;
  /** Seconds until the window resets. */
  readonly reset: number;
}

export interface Allow {
  readonly ok: true;
  /** The usage counted, keyed by metric ids (null when the authorizer cannot say, e.g. a remote backend). */
  readonly event: UsageEventPayload | null;
  readonly rate?: RateLimitState;
}

export interface Deny {
  readonly ok: false;
  readonly code: DenyCode;
  /** Seconds, for `Retry-After` on limits_exceeded. */
  readonly retryAfter?: number;
  readonly rate?: RateLimitState;
}

export type Verdict = Allow | Deny;

/** The application's credentials as presented (OIDC tokens are resolved to their client id first). */
export type AppCredentials =
  | { readonly kind: 'user_key'; readonly userKey: string }
  | { readonly kind: 'app_id'; readonly appId: string; readonly appKey?: string };

export interface AuthCall {
  readonly svc: GatewayService;
  readonly creds: AppCredentials;
  /** Metric system name → delta (decimal string), from the mapping rules. */
  readonly usage: ParamMap;
  /** The request's `Referer`-derived referrer, when the service filters referrers. */
  readonly referrer?: string;
}

export interface Authorizer {
  /** Decides (and, when allowed, counts) one call. Synchronous when no I/O is needed. */
  decide(call: AuthCall): Verdict | Promise<Verdict>;
  /** Flushes what is pending (batched usage, unused leases) and releases resources. */
  close(): Promise<void>;
}
