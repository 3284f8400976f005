/**
 * `batched` and `leased`: the authorization core decides each call as in `strict` (credentials, app
 * state, referrer, limits, usage roll-up, rate-limit state), but its counter store is the local Tally
 * (tally.ts) instead of the shared one. So the checks are the same code, and a decision needs no I/O in
 * the common case: the verdict is returned without a promise.
 */
import type { BackendDeps } from '../../backend/deps.js';
import type { CounterPlan, CounterResult } from '../../domain/counters.js';
import type { CounterStore } from '../../store/ports.js';
import type { ServiceAuthorization } from '../../store/sql/repo/records.js';
import { decideWith } from './strict.js';
import {
  DEFAULT_FLUSH_MS,
  DEFAULT_STORE_TIMEOUT_MS,
  leasablePlan,
  plainPlan,
  type Tally,
  type TallySettings,
} from './tally.js';
import type { AuthCall, Authorizer, Verdict } from './types.js';

export type LocalMode = 'batched' | 'leased';

/** A service's authorization settings with their defaults (docs/config.md, `authorization`). */
export function tallySettings(a: ServiceAuthorization): TallySettings {
  return {
    flushMs: a.flush_ms ?? DEFAULT_FLUSH_MS,
    timeoutMs: a.store_timeout_ms ?? DEFAULT_STORE_TIMEOUT_MS,
    allowOnFailure: a.on_store_failure === 'allow',
    leaseSize: a.lease_size,
  };
}

/**
 * The counter store the core sees in a local mode. `executeSync` answers from the Tally; when the Tally
 * must first hear from the store (a cold or stale batched value, a short lease) it answers a promise
 * instead — the core runs as steps (backend/steps.ts) and awaits any step that is a promise, so the
 * decision simply continues when the store has answered. Plans that are not plain increments (never
 * produced by mapping rules) go to the shared store, exactly as in strict.
 */
class LocalCounters implements CounterStore {
  constructor(
    private readonly tally: Tally,
    private readonly mode: LocalMode,
    private readonly s: TallySettings,
    private readonly shared: CounterStore,
  ) {}

  executeSync(plan: CounterPlan): CounterResult {
    let r: CounterResult | Promise<CounterResult>;
    if (!plainPlan(plan) || (this.mode === 'leased' && !leasablePlan(plan))) {
      const sh = this.shared;
      r = sh.executeSync !== undefined ? sh.executeSync(plan) : sh.execute(plan);
    } else {
      r = this.mode === 'leased' ? this.tally.leased(plan, this.s) : this.tally.batched(plan, this.s);
    }
    return r as CounterResult; // may be a promise: see the class comment
  }

  execute(plan: CounterPlan): Promise<CounterResult> {
    try {
      return Promise.resolve(this.executeSync(plan));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Reads on the core's denial paths (reports of a refused call): local estimates, no I/O. */
  readSync(keys: readonly string[]): number[] {
    return this.tally.values(keys);
  }

  read(keys: readonly string[]): Promise<number[]> {
    return Promise.resolve(this.readSync(keys));
  }

  async close(): Promise<void> {}
}

export interface LocalAuthorizerOptions {
  readonly tally: Tally;
  readonly mode: LocalMode;
  /**
   * The core's dependencies with their stores guarded by a store timeout. Their counters are replaced
   * by the Tally; the shared counter store is kept for plans the Tally does not take.
   */
  readonly deps: (timeoutMs: number) => BackendDeps;
}

export function createLocalAuthorizer(opts: LocalAuthorizerOptions): Authorizer {
  // One deps object per service settings object (a new one comes with each config version).
  const bySettings = new WeakMap<ServiceAuthorization, BackendDeps>();
  const depsFor = (a: ServiceAuthorization): BackendDeps => {
    let d = bySettings.get(a);
    if (d === undefined) {
      const s = tallySettings(a);
      const base = opts.deps(s.timeoutMs);
      d = { ...base, counters: new LocalCounters(opts.tally, opts.mode, s, base.counters) };
      bySettings.set(a, d);
    }
    return d;
  };
  return {
    decide(call: AuthCall): Verdict | Promise<Verdict> {
      return decideWith(depsFor(call.svc.authorization), call);
    },
    async close() {},
  };
}
