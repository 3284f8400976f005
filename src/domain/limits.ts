/** Usage limits: the limit decision (§5.2), usage reports (§3.1), limit headers (§5.3) and counter plans. */
import type { CompiledService } from './compiled-service.js';
import {
  type CounterCheck,
  type CounterPlan,
  type CounterWrite,
  counterExpiry,
  counterKey,
  firstFailingCheck,
} from './counters.js';
import { PERIODS, type Period, type PlanView } from './model.js';
import { windowEnd, windowStart } from './periods.js';
import type { ProcessedUsage, UsageValue } from './usage.js';

/** One usage limit of a plan, resolved to its metric's name. */
export interface LimitRow {
  readonly metricId: string;
  readonly metricName: string;
  readonly period: Period;
  readonly max: number;
}

// 3scale lists a metric's limits from the longest period to the shortest.
const PERIOD_RANK: Readonly<Record<Period, number>> = {
  eternity: 0,
  year: 1,
  month: 2,
  week: 3,
  day: 4,
  hour: 5,
  minute: 6,
};
const NO_ROWS: readonly LimitRow[] = Object.freeze([]);

/** Every period's current window at some instant; identical for a whole UTC minute. */
interface Windows {
  readonly minute: number;
  readonly start: Readonly<Record<Period, number>>;
  readonly end: Readonly<Record<Period, number>>;
  readonly expiry: Readonly<Record<Period, number>>;
}
let lastWindows: Windows | null = null;

// Counter keys of the current minute's windows per (service, app, metric), in PERIODS order: key
// formatting is most of the cost of a plan. Dropped at every minute change and when it grows too big.
// Nested by service, app and metric: lookups by the ids as stored (hashes cached on the strings), no
// concatenated lookup key built per call.
const keyCache = new Map<string, Map<string, Map<string, string[]>>>();
let keyCacheSize = 0;
let keyCacheMinute = -1;
const KEY_CACHE_MAX = 100_000;
const PERIOD_INDEX: Readonly<Record<Period, number>> = {
  minute: 0,
  hour: 1,
  day: 2,
  week: 3,
  month: 4,
  year: 5,
  eternity: 6,
};

/** The 7 current-window counter keys of one application's metric (PERIODS order). */
function periodKeys(serviceId: string, appId: string, metricId: string, w: Windows): string[] {
  if (keyCacheMinute !== w.minute || keyCacheSize > KEY_CACHE_MAX) {
    keyCache.clear();
    keyCacheSize = 0;
    keyCacheMinute = w.minute;
  }
  let byApp = keyCache.get(serviceId);
  if (byApp === undefined) {
    byApp = new Map();
    keyCache.set(serviceId, byApp);
  }
  let byMetric = byApp.get(appId);
  if (byMetric === undefined) {
    byMetric = new Map();
    byApp.set(appId, byMetric);
  }
  let keys = byMetric.get(metricId);
  if (keys === undefined) {
    keys = PERIODS.map((p) => counterKey(serviceId, appId, metricId, p, w.start[p]));
    byMetric.set(metricId, keys);
    keyCacheSize++;
  }
  return keys;
}

/** The windows containing `t`, memoized per minute (each window is a union of whole minutes). */
function windowsAt(t: number): Windows {
  const w = lastWindows;
  if (w !== null && t >= w.minute && t < w.minute + 60_000) return w;
  const start = {} as Record<Period, number>;
  const end = {} as Record<Period, number>;
  const expiry = {} as Record<Period, number>;
  for (const p of PERIODS) {
    start[p] = windowStart(p, t);
    end[p] = windowEnd(p, start[p]);
    expiry[p] = counterExpiry(p, start[p]);
  }
  const fresh = { minute: start.minute, start, end, expiry };
  lastWindows = fresh;
  return fresh;
}
const planCache = new WeakMap<
  PlanView,
  { readonly c: CompiledService; readonly rows: readonly LimitRow[] }
>();

/**
 * The plan's limits as rows, grouped by metric (in order of first appearance), longest period first.
 * Limits on metrics the service no longer has are skipped (as 3scale does). Cached per plan object.
 */
export function planLimits(plan: PlanView | null, c: CompiledService): readonly LimitRow[] {
  if (plan === null) return NO_ROWS;
  const hit = planCache.get(plan);
  if (hit !== undefined && hit.c === c) return hit.rows;
  const order = new Map<string, number>();
  const seen = new Set<string>();
  const rows: LimitRow[] = [];
  for (const l of plan.limits) {
    const name = c.nameById.get(l.metricId);
    // A dangling metric is skipped (as 3scale does); a duplicate (metric, period) keeps the first.
    if (name === undefined || seen.has(`${l.metricId}\n${l.period}`)) continue;
    seen.add(`${l.metricId}\n${l.period}`);
    if (!order.has(l.metricId)) order.set(l.metricId, order.size);
    rows.push({ metricId: l.metricId, metricName: name, period: l.period, max: l.max });
  }
  rows.sort(
    (a, b) =>
      order.get(a.metricId)! - order.get(b.metricId)! || PERIOD_RANK[a.period] - PERIOD_RANK[b.period],
  );
  const frozen = rows.length === 0 ? NO_ROWS : rows;
  planCache.set(plan, { c, rows: frozen });
  return frozen;
}

/** Counter keys of the current windows of every limit row (same order as `rows`). */
export function limitKeys(
  serviceId: string,
  appId: string,
  rows: readonly LimitRow[],
  now: number,
): string[] {
  const keys = new Array<string>(rows.length);
  const w = windowsAt(now);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    keys[i] = periodKeys(serviceId, appId, r.metricId, w)[PERIOD_INDEX[r.period]]!;
  }
  return keys;
}

/**
 * The Limits validator as counter checks (key index = row index). Without usage every limit is checked
 * as `stored <= max`; with usage (even empty) only the limits of metrics in the usage, as
 * `(set ? N : stored + v) <= max` (so a 0-limit blocks usage but not a bare authorize).
 */
export function limitChecks(rows: readonly LimitRow[], usage: ProcessedUsage | null): CounterCheck[] {
  const checks: CounterCheck[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (usage === null) {
      checks.push({ key: i, max: r.max, value: 0, set: false });
      continue;
    }
    const u = usage.get(r.metricId);
    if (u !== undefined) checks.push({ key: i, max: r.max, value: u.value, set: u.set });
  }
  return checks;
}

/** The limit decision over stored values (authorize: no writes). */
export function limitsAllow(
  rows: readonly LimitRow[],
  values: readonly number[],
  usage: ProcessedUsage | null,
): boolean {
  const checks = limitChecks(rows, usage);
  return firstFailingCheck({ keys: [], checks, writes: [] }, values) < 0;
}

/** One `<usage_report>` of the status XML. Times are epoch ms. */
export interface UsageReport {
  readonly metricId: string;
  readonly metricName: string;
  readonly period: Period;
  readonly start: number;
  readonly end: number;
  readonly max: number;
  readonly current: number;
  readonly exceeded: boolean;
}

/**
 * Usage reports: one per limit row. `current` = stored, plus `applied` usage when given (authrep that
 * was authorized: increments add, a set replaces). `exceeded` looks at the stored value only.
 */
export function usageReports(
  rows: readonly LimitRow[],
  values: readonly number[],
  applied: ProcessedUsage | null,
  now: number,
): UsageReport[] {
  const out = new Array<UsageReport>(rows.length);
  const w = windowsAt(now);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const stored = values[i] ?? 0;
    const u = applied === null ? undefined : applied.get(r.metricId);
    const current = u === undefined ? stored : u.set ? u.value : stored + u.value;
    out[i] = {
      metricId: r.metricId,
      metricName: r.metricName,
      period: r.period,
      start: w.start[r.period],
      end: w.end[r.period],
      max: r.max,
      current,
      exceeded: stored > r.max,
    };
  }
  return out;
}

/** The three `3scale-limit-*` headers; `max` null = header omitted. */
export interface LimitHeaders {
  readonly remaining: number;
  readonly reset: number;
  readonly max: number | null;
}

const NO_LIMIT: LimitHeaders = Object.freeze({ remaining: -1, reset: -1, max: null });

/**
 * Limit headers (§5.3): among the reports of the usage's metrics and their ancestors (all reports when
 * there is no usage), the one allowing the fewest further identical calls; ties go to the longer period.
 */
export function limitHeaders(
  reports: readonly UsageReport[],
  usage: ProcessedUsage | null,
  c: CompiledService,
  now: number,
): LimitHeaders {
  let relevant: Set<string> | null = null;
  if (usage !== null && usage.size > 0) {
    relevant = new Set<string>();
    for (const id of usage.keys()) {
      relevant.add(id);
      for (const a of c.ancestors.get(id) ?? []) relevant.add(a);
    }
  }
  let best: UsageReport | null = null;
  let bestCalls = -1;
  for (const r of reports) {
    if (relevant !== null && !relevant.has(r.metricId)) continue;
    const remaining = Math.max(r.max - r.current, 0);
    const u = usage?.get(r.metricId)?.value ?? 0;
    const calls = remaining <= 0 ? 0 : u > 0 ? Math.floor(remaining / u) : -1;
    if (best === null) {
      best = r;
      bestCalls = calls;
      continue;
    }
    if (calls === -1) continue;
    if (
      bestCalls === -1 ||
      calls < bestCalls ||
      (calls === bestCalls && PERIOD_RANK[r.period] < PERIOD_RANK[best.period])
    ) {
      best = r;
      bestCalls = calls;
    }
  }
  if (best === null || bestCalls === -1) return NO_LIMIT;
  const reset = best.period === 'eternity' ? -1 : Math.ceil((best.end - now) / 1000);
  return { remaining: bestCalls, reset, max: best.max };
}

/**
 * Builds one application's CounterPlan: limit keys and checks first, then usage writes for the 7
 * periods' windows. Writes to one key are merged in order (an increment after a set raises the set).
 */
export class CounterPlanBuilder {
  readonly keys: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly writes = new Map<number, { value: number; set: boolean; expireAt: number }>();
  private checks: CounterCheck[] = [];

  constructor(
    private readonly serviceId: string,
    private readonly appId: string,
  ) {}

  /** Index of `key` in the plan, adding it when new. */
  key(key: string): number {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.keys.length;
      this.keys.push(key);
      this.index.set(key, i);
    }
    return i;
  }

  /** Adds the limit rows' keys (indexes 0..rows-1 when called first) and their checks. */
  addLimits(rows: readonly LimitRow[], usage: ProcessedUsage | null, now: number): void {
    const keys = limitKeys(this.serviceId, this.appId, rows, now);
    const map: number[] = keys.map((k) => this.key(k));
    for (const ch of limitChecks(rows, usage)) this.checks.push({ ...ch, key: map[ch.key]! });
  }

  /**
   * Adds writes of `usage` at time `t` to the windows of the periods `counted` names for each metric
   * (indexes into PERIODS; see ServiceView.countedPeriods).
   */
  addUsage(usage: ProcessedUsage, t: number, counted: (metricId: string) => readonly number[]): void {
    const w = windowsAt(t);
    for (const [metricId, u] of usage) {
      // A plain 0 changes nothing: no write (3scale drops zero usages too).
      if (!u.set && u.value === 0) continue;
      const periods = counted(metricId);
      if (periods.length === 0) continue;
      const keys = periodKeys(this.serviceId, this.appId, metricId, w);
      for (const i of periods) this.merge(this.key(keys[i]!), u, w.expiry[PERIODS[i]!]);
    }
  }

  build(dedupe?: { readonly key: string; readonly expireAt: number }): CounterPlan {
    const writes: CounterWrite[] = [];
    for (const [key, w] of this.writes)
      writes.push({ key, value: w.value, set: w.set, expireAt: w.expireAt });
    return dedupe === undefined
      ? { keys: this.keys, checks: this.checks, writes }
      : { keys: this.keys, checks: this.checks, writes, dedupe };
  }

  private merge(key: number, u: UsageValue, expireAt: number): void {
    const prev = this.writes.get(key);
    if (prev === undefined || u.set) {
      this.writes.set(key, { value: u.value, set: u.set, expireAt });
    } else {
      prev.value += u.value;
    }
  }
}

/**
 * An authrep's counter plan: the limit rows' checks, then the writes of `counted` usage (null: none),
 * which must be derived from `usage` alone (its non-zero entries).
 *
 * The same application with the same usage object always gets the same plan within one UTC minute (every
 * period's window, hence every key and expiry, holds for the whole minute). So when `usage` is a shared
 * object (the gateway's per mapping outcome: `processUsageOf` of a frozen map), the plan is built once
 * per application and minute and then reused: plans are never mutated by the counter stores.
 */
export function authrepPlan(
  serviceId: string,
  appId: string,
  rows: readonly LimitRow[],
  usage: ProcessedUsage | null,
  counted: ProcessedUsage | null,
  countedPeriods: (metricId: string) => readonly number[],
  now: number,
  shared: boolean,
): CounterPlan {
  let byApp: Map<string, SharedPlan> | undefined;
  let minute = 0;
  if (shared && usage !== null) {
    minute = windowsAt(now).minute;
    byApp = sharedPlans.get(usage);
    if (byApp === undefined) {
      byApp = new Map();
      sharedPlans.set(usage, byApp);
    }
    const hit = byApp.get(appId);
    if (
      hit !== undefined &&
      hit.minute === minute &&
      hit.rows === rows &&
      hit.countedPeriods === countedPeriods &&
      hit.serviceId === serviceId
    )
      return hit.plan;
  }
  const builder = new CounterPlanBuilder(serviceId, appId);
  builder.addLimits(rows, usage, now);
  if (counted !== null) builder.addUsage(counted, now, countedPeriods);
  const plan = builder.build();
  if (byApp !== undefined) {
    if (byApp.size >= SHARED_PLANS_PER_USAGE) byApp.clear();
    byApp.set(appId, { minute, rows, countedPeriods, serviceId, plan });
  }
  return plan;
}

interface SharedPlan {
  readonly minute: number;
  readonly rows: readonly LimitRow[];
  readonly countedPeriods: (metricId: string) => readonly number[];
  readonly serviceId: string;
  readonly plan: CounterPlan;
}

/** Plans by shared usage object, then application id; bounded per usage object (cleared when full). */
const sharedPlans = new WeakMap<ProcessedUsage, Map<string, SharedPlan>>();
const SHARED_PLANS_PER_USAGE = 10_000;
