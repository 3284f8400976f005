/**
 * `POST /transactions.xml`, synchronous part (3scale §2.3): validate the batch, then append ONE record to
 * the `reports` stream; the report worker counts it. Returns an outcome value.
 */
import type { BackendDeps } from './deps.js';
import { type BackendError, backendError } from './errors.js';
import { freshId } from './events.js';
import type { ParamMap, ParamValue } from './params.js';
import { idParam, loadService, resolveProviderKey } from './resolve.js';

/** One transaction as queued: raw values, validated by the worker (all-or-nothing per batch). */
export interface QueuedTransaction {
  readonly app_id?: string;
  readonly user_key?: string;
  readonly usage: Readonly<Record<string, ParamValue>>;
  readonly timestamp?: string;
  readonly log?: { readonly code: string };
}

/** Payload of a `reports` record. `batchId` = the record's id: the worker's de-duplication key. */
export interface ReportBatchPayload {
  readonly type: 'report';
  readonly batchId: string;
  readonly serviceId: string;
  /** Epoch ms when the batch was accepted: the time of transactions without a usable timestamp. */
  readonly receivedAt: number;
  readonly transactions: readonly QueuedTransaction[];
}

export type ReportOutcome =
  | { readonly kind: 'accepted'; readonly batchId: string | null }
  | { readonly kind: 'error'; readonly error: BackendError; readonly serviceId: string | null };

const isMap = (v: ParamValue | undefined): v is ParamMap =>
  v !== undefined && typeof v === 'object' && !Array.isArray(v);

function isBlank(v: ParamValue | undefined): boolean {
  if (v === undefined) return true;
  if (typeof v === 'string') return v.trim() === '';
  if (Array.isArray(v)) return v.length === 0;
  for (const _ in v) return false;
  return true;
}

/** Plain-zero values are dropped before queueing (they would count nothing). */
function isZero(v: ParamValue | undefined): boolean {
  return typeof v === 'string' && v.trim() === '0';
}

/** Validates a report and queues it. Rejects only on store faults. */
export async function acceptReport(
  deps: BackendDeps,
  p: ParamMap,
  invalidUtf8: boolean,
): Promise<ReportOutcome> {
  const pk = await resolveProviderKey(deps.authView, p);
  if (!pk.ok) return { kind: 'error', error: pk.error, serviceId: null };
  if (invalidUtf8) return { kind: 'error', error: backendError('not_valid_data'), serviceId: null };
  const txs = p.transactions;
  if (isBlank(txs)) return { kind: 'error', error: backendError('transactions_is_blank'), serviceId: null };
  if (!isMap(txs))
    return { kind: 'error', error: backendError('transactions_format_invalid'), serviceId: null };
  for (const k in txs) {
    const t = txs[k];
    if (!isMap(t))
      return { kind: 'error', error: backendError('transactions_has_nil_transaction'), serviceId: null };
  }
  for (const k in txs) {
    if ((txs[k] as ParamMap).user_id !== undefined) {
      return { kind: 'error', error: backendError('end_users_no_longer_supported'), serviceId: null };
    }
  }
  const loaded = await loadService(deps.authView, pk.providerKey, idParam(p, 'service_id'));
  if (!loaded.ok) return { kind: 'error', error: loaded.error, serviceId: null };
  const queued: QueuedTransaction[] = [];
  for (const k in txs) {
    const t = txs[k] as ParamMap;
    const u = t.usage;
    if (!isMap(u)) continue;
    const usage: Record<string, ParamValue> = {};
    let n = 0;
    for (const name in u) {
      const v = u[name];
      if (v === undefined || isZero(v)) continue;
      usage[name] = v;
      n++;
    }
    if (n === 0) continue;
    const log = t.log;
    const code = isMap(log) && typeof log.code === 'string' ? log.code : undefined;
    queued.push({
      ...(typeof t.app_id === 'string' ? { app_id: t.app_id } : {}),
      ...(typeof t.user_key === 'string' ? { user_key: t.user_key } : {}),
      usage,
      ...(typeof t.timestamp === 'string' ? { timestamp: t.timestamp } : {}),
      ...(code !== undefined ? { log: { code } } : {}),
    });
  }
  if (queued.length === 0) return { kind: 'accepted', batchId: null };
  const batchId = freshId();
  const payload: ReportBatchPayload = {
    type: 'report',
    batchId,
    serviceId: loaded.service.id,
    receivedAt: deps.clock(),
    transactions: queued,
  };
  await deps.usageLog.append('reports', [{ id: batchId, payload }]);
  return { kind: 'accepted', batchId };
}
