/** Usage parameters: values `N` (increment) or `#N` (set), metric names → ids, roll-up to ancestors (3scale §5.1). */
import { ancestorsOf, type CompiledService } from './compiled-service.js';

/** One metric's usage in a request: add `value`, or (`set`) replace the counter with it. */
export interface UsageValue {
  readonly value: number;
  readonly set: boolean;
}

/** Processed usage: metric id → value, in processing order (explicit entries first, then ancestors). */
export type ProcessedUsage = ReadonlyMap<string, UsageValue>;

/** Why a usage map was refused; both are 4xx errors of the Service Management API, not denials. */
export type UsageError =
  | { readonly code: 'metric_invalid'; readonly metric: string }
  | { readonly code: 'usage_value_invalid'; readonly metric: string; readonly value: string | null };

export type UsageResult =
  | { readonly ok: true; readonly usage: ProcessedUsage }
  | { readonly ok: false; readonly error: UsageError };

// Ruby's \s is ASCII whitespace only; 3scale accepts `\A\s*#?\d+\s*\z`.
const VALUE_RE = /^[ \t\r\n\f\v]*(#?)([0-9]+)[ \t\r\n\f\v]*$/;
const BLANK_RE = /^[ \t\r\n\f\v]*$/;

/**
 * Parses one raw value. `null` = invalid. Values beyond 2^53 are refused as invalid (3scale would take
 * Ruby bignums; counters here are doubles, and such a usage is never legitimate).
 */
export function parseUsageValue(raw: unknown): UsageValue | null {
  if (typeof raw === 'number')
    return Number.isSafeInteger(raw) && raw >= 0 ? { value: raw, set: false } : null;
  if (typeof raw !== 'string') return null;
  const m = VALUE_RE.exec(raw);
  if (m === null) return null;
  const value = Number(m[2]);
  if (!Number.isSafeInteger(value)) return null;
  return { value, set: m[1] === '#' };
}

/** True when a raw value is absent or whitespace only ("can not be empty" message). */
export function isBlankValue(raw: unknown): boolean {
  return raw === undefined || raw === null || (typeof raw === 'string' && BLANK_RE.test(raw));
}

function describe(raw: unknown): string | null {
  if (isBlankValue(raw)) return null;
  return typeof raw === 'string' ? raw : JSON.stringify(raw);
}

/**
 * Parses and resolves a usage map. Per entry the value is checked before the metric name (as 3scale
 * does), so `usage[nope]=x` is a value error. Unless `flat`, each entry is rolled up to every ancestor:
 * increments add (an ancestor's explicit value included), a set sets the ancestor (last one wins).
 */
// Results for usage maps that callers reuse across calls (the gateway keeps one per mapping outcome):
// keyed by the map itself, valid for the compiled service and flat flag they were computed with. The
// processed usage is never mutated by its readers, so sharing it is safe.
const reused = new WeakMap<object, { c: CompiledService; flat: boolean; result: UsageResult }>();

/** `processUsage` for a usage map the caller passes again and again, unchanged (frozen). */
export function processUsageOf(
  raw: Readonly<Record<string, unknown>>,
  c: CompiledService,
  flat: boolean,
): UsageResult {
  if (!Object.isFrozen(raw)) return processUsage(raw, c, flat);
  const hit = reused.get(raw);
  if (hit !== undefined && hit.c === c && hit.flat === flat) return hit.result;
  const result = processUsage(raw, c, flat);
  reused.set(raw, { c, flat, result });
  return result;
}

export function processUsage(
  raw: Readonly<Record<string, unknown>>,
  c: CompiledService,
  flat: boolean,
): UsageResult {
  const explicit = new Map<string, UsageValue>();
  for (const rawName in raw) {
    const name = rawName.trim();
    const rawValue = raw[rawName];
    const v = parseUsageValue(rawValue);
    if (v === null)
      return { ok: false, error: { code: 'usage_value_invalid', metric: name, value: describe(rawValue) } };
    const id = c.idByName.get(name);
    if (id === undefined) return { ok: false, error: { code: 'metric_invalid', metric: name } };
    explicit.set(id, v);
  }
  if (flat) return { ok: true, usage: explicit };
  const out = new Map<string, UsageValue>(explicit);
  for (const [id, v] of explicit) {
    const chain = ancestorsOf(c, id);
    for (let i = 0; i < chain.length; i++) {
      const a = chain[i]!;
      if (v.set) {
        out.set(a, v);
      } else {
        const prev = out.get(a);
        // An increment under a set ancestor keeps it a set, raised by the increment.
        out.set(a, prev === undefined ? v : { value: prev.value + v.value, set: prev.set });
      }
    }
  }
  return { ok: true, usage: out };
}

/** First metric name in `raw` the service does not know, or null (no_body's early check, §2.2 step 10). */
export function firstUnknownMetric(
  raw: Readonly<Record<string, unknown>>,
  c: CompiledService,
): string | null {
  for (const rawName in raw) {
    const name = rawName.trim();
    if (!c.idByName.has(name)) return name;
  }
  return null;
}

/** True when some entry would change a counter (`#0` does: it deletes; a plain `0` does not). */
export function hasEffect(usage: ProcessedUsage): boolean {
  for (const v of usage.values()) if (v.set || v.value !== 0) return true;
  return false;
}
