/**
 * The report worker (3scale §2.3, asynchronous part): consumes the `reports` stream with group `counters`,
 * validates each batch all-or-nothing (apps, metrics, values, timestamps), logs a failing batch's error
 * to the service's error log, and otherwise counts it with ONE de-duplicated CounterPlan per application,
 * so a batch delivered again after a crash is counted once. Acks after.
 */
import { compileService } from '../domain/compiled-service.js';
import { DEDUPE_TTL_MS, dedupeKey } from '../domain/counters.js';
import { CounterPlanBuilder } from '../domain/limits.js';
import { type ProcessedUsage, processUsage } from '../domain/usage.js';
import type { Delivery } from '../store/ports.js';
import type { BackendDeps } from './deps.js';
import { type BackendError, backendError } from './errors.js';
import { type UsageBatchPayload, usageEventOf } from './events.js';
import type { ReportBatchPayload } from './report.js';

export const REPORTS_GROUP = 'counters';
const PAST_LIMIT_S = 86_400;
const FUTURE_LIMIT_S = 3_600;

// `2010-04-22 23:55:45 +0200`, `2010-04-22T23:55:45.123-02:00`, `2010-04-22 23:55 UTC`, `2010-04-22`.
const DATE_RE =
  /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$/i;
const INTEGER_RE = /^\s*-?\d+\s*$/;

/**
 * A report timestamp in epoch ms: an integer string is Unix seconds; otherwise a date with year, month
 * and day, honouring an offset (none = UTC). Blank or unparseable: `fallback` (the batch's arrival).
 */
export function parseReportTimestamp(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  if (INTEGER_RE.test(raw)) return Number(raw.trim()) * 1000;
  const m = DATE_RE.exec(raw);
  if (m !== null) {
    const [, y, mo, d, h, mi, s, frac, zone] = m;
    let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
    if (frac !== undefined) t += Math.floor(Number(`0.${frac}`) * 1000);
    if (zone !== undefined && zone[0] !== undefined && (zone[0] === '+' || zone[0] === '-')) {
      const digits = zone.slice(1).replace(':', '');
      const offMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
      t -= (zone[0] === '+' ? 1 : -1) * offMin * 60_000;
    }
    return Number.isFinite(t) ? t : fallback;
  }
  // Other free-form dates (RFC 2822 and the like); they must name a year, month and day to parse at all.
  const t = Date.parse(raw);
  return Number.isFinite(t) ? t : fallback;
}

/** What processing one batch came to. */
export type BatchOutcome =
  | { readonly status: 'counted'; readonly apps: number; readonly duplicates: number }
  | { readonly status: 'rejected'; readonly error: BackendError }
  | { readonly status: 'skipped' };

interface Resolved {
  readonly appId: string;
  readonly usage: ProcessedUsage;
  readonly at: number;
  readonly code: string | undefined;
}

/** Validates and counts one batch. Rejects only on store faults (the delivery is then not acked). */
export async function processReportBatch(
  deps: BackendDeps,
  payload: ReportBatchPayload,
): Promise<BatchOutcome> {
  const view = deps.authView;
  const svc = await view.service(payload.serviceId);
  if (svc === null) return { status: 'skipped' };
  const c = compileService(svc);
  const now = deps.clock();
  const nowS = Math.floor(now / 1000);
  const resolved: Resolved[] = [];
  let error: BackendError | null = null;
  for (const t of payload.transactions) {
    const appIdRaw = t.app_id?.trim() || undefined;
    const userKey = t.user_key?.trim() || undefined;
    let appId: string;
    if (appIdRaw !== undefined && userKey !== undefined) {
      error = backendError('authentication_error');
      break;
    }
    if (appIdRaw !== undefined) {
      if ((await view.application(svc.id, appIdRaw)) === null) {
        error = backendError('application_not_found', appIdRaw);
        break;
      }
      appId = appIdRaw;
    } else if (userKey !== undefined) {
      const found = await view.appIdByUserKey(svc.id, userKey);
      if (found === null) {
        error = backendError('user_key_invalid', userKey);
        break;
      }
      appId = found;
    } else {
      error = backendError('application_not_found');
      break;
    }
    const parsed = processUsage(t.usage, c, false);
    if (!parsed.ok) {
      const e = parsed.error;
      error =
        e.code === 'metric_invalid'
          ? backendError('metric_invalid', e.metric)
          : backendError('usage_value_invalid', e.metric, e.value ?? undefined);
      break;
    }
    const at = parseReportTimestamp(t.timestamp, payload.receivedAt);
    const atS = Math.floor(at / 1000);
    if (atS < nowS - PAST_LIMIT_S) {
      error = backendError('transaction_timestamp_too_old');
      break;
    }
    if (atS > nowS + FUTURE_LIMIT_S) {
      error = backendError('transaction_timestamp_too_new');
      break;
    }
    resolved.push({ appId, usage: parsed.usage, at, code: t.log?.code });
  }
  if (error !== null) {
    await deps.errorLog.add(svc.id, [{ code: error.code, message: error.message, timestamp: now }]);
    return { status: 'rejected', error };
  }
  const builders = new Map<string, CounterPlanBuilder>();
  for (const r of resolved) {
    let b = builders.get(r.appId);
    if (b === undefined) {
      b = new CounterPlanBuilder(svc.id, r.appId);
      builders.set(r.appId, b);
    }
    b.addUsage(r.usage, r.at, c.counted);
  }
  let duplicates = 0;
  for (const [appId, b] of builders) {
    const plan = b.build({ key: dedupeKey(svc.id, appId, payload.batchId), expireAt: now + DEDUPE_TTL_MS });
    const result = await deps.counters.execute(plan);
    if (result.status === 'duplicate') duplicates++;
  }
  // Events carry deterministic ids (batch + index), so a re-delivered batch is de-duplicated downstream.
  const events = resolved.map((r, i) => ({
    ...usageEventOf('report', svc.id, r.appId, r.usage, r.code, r.at),
    id: `${payload.batchId}:${i}`,
  }));
  if (events.length > 0) {
    const batch: UsageBatchPayload = { type: 'usage_batch', events };
    await deps.usageLog.append('events', [{ id: `${payload.batchId}:events`, payload: batch }]);
  }
  return { status: 'counted', apps: builders.size, duplicates };
}

function isBatch(payload: unknown): payload is ReportBatchPayload {
  const p = payload as Partial<ReportBatchPayload> | null;
  return (
    p !== null &&
    typeof p === 'object' &&
    p.type === 'report' &&
    typeof p.batchId === 'string' &&
    typeof p.serviceId === 'string' &&
    Array.isArray(p.transactions)
  );
}

/** Reads up to `max` deliveries, processes them and acks the ones done. Returns how many were acked. */
export async function runReportWorkerOnce(
  deps: BackendDeps,
  consumer: string,
  max = 100,
  blockMs = 0,
): Promise<number> {
  const deliveries: Delivery[] = await deps.usageLog.read('reports', REPORTS_GROUP, consumer, max, blockMs);
  const done: string[] = [];
  for (const d of deliveries) {
    if (isBatch(d.record.payload)) {
      try {
        await processReportBatch(deps, d.record.payload);
      } catch {
        continue; // store fault: leave unacked, it is delivered again
      }
    }
    done.push(d.seq);
  }
  if (done.length > 0) await deps.usageLog.ack('reports', REPORTS_GROUP, done);
  return done.length;
}

/** A running worker loop; `stop()` ends it after the current round. */
export interface ReportWorker {
  stop(): Promise<void>;
}

/** Options of the worker loop. */
export interface ReportWorkerOptions {
  readonly consumer?: string;
  readonly batch?: number;
  /** How long one read blocks waiting for records (ms). */
  readonly blockMs?: number;
  /** Pause after a store fault before trying again (ms). */
  readonly retryMs?: number;
  readonly onError?: (err: unknown) => void;
}

/** Starts the report worker loop. */
export function startReportWorker(deps: BackendDeps, opts: ReportWorkerOptions = {}): ReportWorker {
  const consumer = opts.consumer ?? `worker-${process.pid}`;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const n = await runReportWorkerOnce(deps, consumer, opts.batch ?? 100, opts.blockMs ?? 500);
        // Adapters that cannot block return at once: a short pause keeps an idle loop cheap.
        if (n === 0 && running) await sleep(20);
      } catch (err) {
        opts.onError?.(err);
        if (running) await sleep(opts.retryMs ?? 1000);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
