/**
 * Counter keys and counter plans: the pure description of an atomic check-and-count that a counter
 * store executes (in one Lua script on Redis, synchronously in memory). Keys of one application share
 * the hash tag `{serviceId:appId}` so a plan never spans Redis Cluster slots.
 */
import type { Period } from './model.js';
import { windowEnd, windowId, windowStart } from './periods.js';

/** Hash tag of an application's keys (Redis Cluster keeps all keys with one tag in one slot). */
export function appTag(serviceId: string, appId: string): string {
  return `{${serviceId}:${appId}}`;
}

/** Key of the counter of one application, metric and period window. */
export function counterKey(
  serviceId: string,
  appId: string,
  metricId: string,
  period: Period,
  start: number,
): string {
  return `c:${appTag(serviceId, appId)}:${metricId}:${period}:${windowId(period, start)}`;
}

/** Key that marks a report batch as applied to one application, so a retried batch counts once. */
export function dedupeKey(serviceId: string, appId: string, batchId: string): string {
  return `d:${appTag(serviceId, appId)}:${batchId}`;
}

/** How long past its window's end a counter is kept (epoch ms; 0 = never expires). */
export function counterExpiry(period: Period, start: number): number {
  if (period === 'eternity') return 0;
  const end = windowEnd(period, start);
  switch (period) {
    case 'minute':
      return end + 120_000;
    case 'hour':
      return end + 3_600_000;
    default:
      return end + 86_400_000;
  }
}

/** Report batches are de-duplicated for this long (they are only accepted 24 h into the past). */
export const DEDUPE_TTL_MS = 48 * 3_600_000;

/** A check: the plan fails unless `(set ? value : stored + value) <= max` for the key. */
export interface CounterCheck {
  readonly key: number;
  readonly max: number;
  readonly value: number;
  readonly set: boolean;
}

/** A write: increment by `value`, or set to `value` (set to 0 deletes the counter). */
export interface CounterWrite {
  readonly key: number;
  readonly value: number;
  readonly set: boolean;
  /** Epoch ms after which the counter may be forgotten; 0 = never. */
  readonly expireAt: number;
}

/**
 * One atomic unit of work on one application's counters. The store reads every key, evaluates every
 * check on the values read, and only if all pass (and the dedupe key is unseen) applies every write.
 */
export interface CounterPlan {
  /** All keys share one application's hash tag. */
  readonly keys: readonly string[];
  readonly checks: readonly CounterCheck[];
  readonly writes: readonly CounterWrite[];
  /** When present: the plan applies at most once for this key (kept until `expireAt`). */
  readonly dedupe?: { readonly key: string; readonly expireAt: number };
}

/** Outcome of a plan. `values` are the stored values of `keys` before any write of this plan. */
export type CounterResult =
  | { readonly status: 'applied'; readonly values: readonly number[] }
  | { readonly status: 'denied'; readonly values: readonly number[]; readonly failedCheck: number }
  | { readonly status: 'duplicate'; readonly values: readonly number[] };

/** Evaluates a plan's checks against stored values: index of the first failing check, or -1. */
export function firstFailingCheck(plan: CounterPlan, values: readonly number[]): number {
  for (let i = 0; i < plan.checks.length; i++) {
    const c = plan.checks[i]!;
    const next = c.set ? c.value : (values[c.key] ?? 0) + c.value;
    if (next > c.max) return i;
  }
  return -1;
}

/** Window start of `period` at `t`, re-exported for callers that build plans. */
export { windowStart };
