/**
 * Picks each service's authorizer: its remote backend when it has one, else by `authorization.mode`
 * (strict, batched, leased). Every call to a shared store goes through one StoreGuard (a timeout per call,
 * a circuit breaker over all of them); a decision that fails on a store becomes the service's
 * `on_store_failure` answer: `deny` → 503 `service_unavailable`, `allow` → forwarded (fail-open.ts).
 */
import type { BackendDeps } from '../../backend/deps.js';
import { MemoryQuotaStore } from '../../store/counters/lease-memory.js';
import type { QuotaStore } from '../../store/counters/lease-port.js';
import type { GatewayService } from '../service.js';
import { failOpen } from './fail-open.js';
import { type BreakerState, StoreGuard, StoreUnavailableError } from './guard.js';
import { GuardedAuthView, guardCounters } from './guarded.js';
import { createLocalAuthorizer } from './local.js';
import { createRemoteAuthorizers } from './remote.js';
import { remoteUsageEvent } from './remote-event.js';
import { createStrictAuthorizer } from './strict.js';
import { DEFAULT_STORE_TIMEOUT_MS, Tally } from './tally.js';
import type { AuthCall, Authorizer, Verdict } from './types.js';

export type { BreakerState } from './guard.js';

export interface AuthorizerSet {
  /** Decides one call with the service's authorizer. Never rejects: store failures become verdicts. */
  decide(call: AuthCall): Verdict | Promise<Verdict>;
  /** Writes pending usage, returns unspent lease units, releases resources. */
  close(): Promise<void>;
  /** The store circuit breaker's state (for metrics and health). */
  breakerState(): BreakerState;
}

export interface AuthorizerOptions {
  readonly deps: BackendDeps;
  /** A decision failed on a store (not called for calls refused at once by the open breaker). */
  readonly onStoreError?: (err: unknown, svc: GatewayService) => void;
  /**
   * The counter store's quota face for `batched` and `leased` (owned: close() closes it). Default: one
   * over `deps.counters` when those live in this process; with a remote counter store and no quota
   * store, `batched` and `leased` services are decided as `strict`.
   */
  readonly quota?: QuotaStore;
  /** Every store call: duration and outcome (a timeout counts as a failure). */
  readonly observeStore?: (seconds: number, ok: boolean) => void;
  /** Breaker transitions. */
  readonly onBreaker?: (state: BreakerState) => void;
  /** Breaker tuning (defaults: 5 consecutive failures open it, 1000 ms before a probe). */
  readonly breaker?: { readonly failureThreshold?: number; readonly cooldownMs?: number };
  /** Tally tuning, for tests. */
  readonly tally?: { readonly leaseIdleMs?: number; readonly dryRetryMs?: number };
}

function withRemoteEvent(v: Verdict, call: AuthCall): Verdict {
  if (!v.ok || v.event !== null) return v;
  const event = remoteUsageEvent(call, Date.now());
  return v.rate === undefined ? { ok: true, event } : { ok: true, event, rate: v.rate };
}

const UNAVAILABLE: Verdict = Object.freeze({ ok: false, code: 'service_unavailable' });

export function createAuthorizers(opts: AuthorizerOptions): AuthorizerSet {
  const { deps } = opts;
  const guard = new StoreGuard({
    ...opts.breaker,
    clock: deps.clock,
    ...(opts.observeStore !== undefined ? { observe: opts.observeStore } : {}),
    ...(opts.onBreaker !== undefined ? { onState: opts.onBreaker } : {}),
  });

  // The core's dependencies with guarded stores, one set per store timeout in use.
  const guardedDeps = new Map<number, BackendDeps>();
  const depsFor = (timeoutMs: number): BackendDeps => {
    let d = guardedDeps.get(timeoutMs);
    if (d === undefined) {
      d = {
        ...deps,
        authView: new GuardedAuthView(deps.authView, guard, timeoutMs),
        counters: guardCounters(deps.counters, guard, timeoutMs),
      };
      guardedDeps.set(timeoutMs, d);
    }
    return d;
  };
  const stricts = new Map<number, Authorizer>();
  const strictFor = (svc: GatewayService): Authorizer => {
    const t = svc.authorization?.store_timeout_ms ?? DEFAULT_STORE_TIMEOUT_MS;
    let a = stricts.get(t);
    if (a === undefined) {
      a = createStrictAuthorizer(depsFor(t));
      stricts.set(t, a);
    }
    return a;
  };

  const quota =
    opts.quota ??
    (deps.counters.executeSync !== undefined && deps.counters.readSync !== undefined
      ? new MemoryQuotaStore(deps.counters, deps.clock)
      : null);
  const tally = quota === null ? null : new Tally({ quota, guard, clock: deps.clock, ...opts.tally });
  const batched = tally === null ? null : createLocalAuthorizer({ tally, mode: 'batched', deps: depsFor });
  const leased = tally === null ? null : createLocalAuthorizer({ tally, mode: 'leased', deps: depsFor });
  const remote = createRemoteAuthorizers();

  const pick = (svc: GatewayService): Authorizer => {
    if (svc.backend !== null) return remote.for(svc.backend);
    switch (svc.authorization?.mode) {
      case 'batched':
        return batched ?? strictFor(svc);
      case 'leased':
        return leased ?? strictFor(svc);
      default:
        return strictFor(svc);
    }
  };

  const failed = (err: unknown, call: AuthCall): Verdict => {
    if (!(err instanceof StoreUnavailableError && err.fast)) opts.onStoreError?.(err, call.svc);
    return call.svc.authorization?.on_store_failure === 'allow'
      ? failOpen(call, deps.authView, deps.clock())
      : UNAVAILABLE;
  };

  return {
    decide(call) {
      let v: Verdict | Promise<Verdict>;
      try {
        v = pick(call.svc).decide(call);
      } catch (err) {
        return failed(err, call);
      }
      if (call.svc.backend !== null) {
        // A remote backend decides and counts; the event for this gateway's analytics is built here.
        if (!(v instanceof Promise)) return withRemoteEvent(v, call);
        return v.then(
          (x) => withRemoteEvent(x, call),
          (err: unknown) => failed(err, call),
        );
      }
      if (!(v instanceof Promise)) return v;
      return v.catch((err: unknown) => failed(err, call));
    },
    async close() {
      for (const s of stricts.values()) await s.close();
      await remote.close();
      if (tally !== null) await tally.close();
      if (opts.quota !== undefined) await opts.quota.close();
    },
    breakerState() {
      return guard.state;
    },
  };
}
