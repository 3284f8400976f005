/**
 * Usage events in columns: how the authorization core and the gateway write their usage events to the
 * usage log's `events` stream. Recording an event appends a few numbers to a batch (no object and no id
 * string per call) and a batch serialises as flat number arrays plus small dictionaries, a fraction of the
 * cost of one JSON object per event. Event `i` of record `R` has the id `R:i`: stable across retries, since
 * a record keeps its id. `decodeUsageRecord` gives the events back (it also reads the `usage_batch`
 * records the report worker writes).
 */
import type { IdentifiedUsageEvent, UsageBatchPayload, UsageEventPayload } from './events.js';

export interface UsageColumns {
  readonly type: 'usage_columns';
  /** Dictionaries that `rows` index into. */
  readonly services: string[];
  readonly apps: string[];
  readonly metrics: string[];
  /** `log[code]` values. */
  readonly codes: string[];
  /**
   * Per event, in order: epoch ms, service index, app index, source (0 authrep, 1 report, 2 gateway),
   * status, latency µs, upstream latency µs, request body bytes, response body bytes, code index (-1 for
   * absent fields), the number n of metrics, then n triples (metric index, value, 1 when a set `#N`).
   */
  readonly rows: number[];
}

const SOURCES = ['authrep', 'report', 'gateway'] as const;

/** What a gateway adds to an event: its exchange's outcome. */
export interface ExchangeOutcome {
  readonly status: number;
  readonly upstreamMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}
const FIXED = 11;

function index(dict: Map<string, number>, value: string): number {
  let i = dict.get(value);
  if (i === undefined) {
    i = dict.size;
    dict.set(value, i);
  }
  return i;
}

const us = (ms: number | undefined): number => (ms === undefined ? -1 : Math.round(ms * 1000));

/** One batch being filled. */
export class UsageColumnsBuilder {
  private readonly services = new Map<string, number>();
  private readonly apps = new Map<string, number>();
  private readonly metrics = new Map<string, number>();
  private readonly codes = new Map<string, number>();
  private readonly rows: number[] = [];
  count = 0;

  /**
   * Appends one event; a gateway passes its exchange's outcome (status, upstream latency in ms, bytes)
   * and total latency (ms) alongside, which makes the event a `gateway` one.
   */
  add(e: UsageEventPayload, exchange?: ExchangeOutcome, latencyMs?: number): void {
    const rows = this.rows;
    const x = exchange;
    rows.push(
      e.timestamp,
      index(this.services, e.serviceId),
      index(this.apps, e.appId),
      x !== undefined ? 2 : e.source === 'report' ? 1 : e.source === 'gateway' ? 2 : 0,
      x !== undefined ? x.status : (e.status ?? -1),
      us(x !== undefined ? latencyMs : e.latencyMs),
      us(x !== undefined ? x.upstreamMs : e.upstreamMs),
      x !== undefined ? x.bytesIn : (e.bytesIn ?? -1),
      x !== undefined ? x.bytesOut : (e.bytesOut ?? -1),
      e.responseCode === undefined ? -1 : index(this.codes, e.responseCode),
      0,
    );
    const at = rows.length - 1;
    let n = 0;
    const usage = e.usage;
    for (const metric in usage) {
      rows.push(index(this.metrics, metric), usage[metric]!, 0);
      n++;
    }
    const set = e.set;
    if (set !== undefined) {
      for (const metric in set) {
        rows.push(index(this.metrics, metric), set[metric]!, 1);
        n++;
      }
    }
    rows[at] = n;
    this.count++;
  }

  payload(): UsageColumns {
    return {
      type: 'usage_columns',
      services: [...this.services.keys()],
      apps: [...this.apps.keys()],
      metrics: [...this.metrics.keys()],
      codes: [...this.codes.keys()],
      rows: this.rows,
    };
  }
}

/** The events of one `usage_columns` record (`id` is the record's id). */
export function decodeUsageColumns(id: string, b: UsageColumns): IdentifiedUsageEvent[] {
  const out: IdentifiedUsageEvent[] = [];
  const r = b.rows;
  let i = 0;
  while (i < r.length) {
    const n = r[i + FIXED - 1]!;
    const usage: Record<string, number> = {};
    let set: Record<string, number> | undefined;
    for (let k = 0; k < n; k++) {
      const at = i + FIXED + 3 * k;
      const metric = b.metrics[r[at]!]!;
      if (r[at + 2] === 1) {
        set ??= {};
        set[metric] = r[at + 1]!;
      } else usage[metric] = r[at + 1]!;
    }
    const e: Record<string, unknown> = {
      type: 'usage',
      id: `${id}:${out.length}`,
      source: SOURCES[r[i + 3]!] ?? 'authrep',
      serviceId: b.services[r[i + 1]!]!,
      appId: b.apps[r[i + 2]!]!,
      timestamp: r[i]!,
      usage,
    };
    if (set !== undefined) e.set = set;
    if (r[i + 9]! >= 0) e.responseCode = b.codes[r[i + 9]!];
    if (r[i + 4]! >= 0) e.status = r[i + 4];
    if (r[i + 5]! >= 0) e.latencyMs = r[i + 5]! / 1000;
    if (r[i + 6]! >= 0) e.upstreamMs = r[i + 6]! / 1000;
    if (r[i + 7]! >= 0) e.bytesIn = r[i + 7];
    if (r[i + 8]! >= 0) e.bytesOut = r[i + 8];
    out.push(e as unknown as IdentifiedUsageEvent);
    i += FIXED + 3 * n;
  }
  return out;
}

/** The usage events of one `events` record, whichever form it was written in; [] for other records. */
export function decodeUsageRecord(record: {
  readonly id: string;
  readonly payload: unknown;
}): IdentifiedUsageEvent[] {
  const p = record.payload as { type?: unknown } | null;
  if (p === null || typeof p !== 'object') return [];
  if (p.type === 'usage_columns') return decodeUsageColumns(record.id, p as UsageColumns);
  if (p.type === 'usage_batch') return [...(p as UsageBatchPayload).events];
  return [];
}
