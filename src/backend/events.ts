/**
 * Off-the-response-path recorders: authrep usage events batched into the `events` stream, and integration
 * errors batched into the services' error logs. Flushed every 100 ms or at 500 entries; the queue is
 * bounded and counts what it drops, so a slow store never grows memory or slows answers.
 */
import { randomBytes } from 'node:crypto';
import type { ProcessedUsage } from '../domain/usage.js';
import type { ErrorLog, IntegrationError } from '../store/ports.js';

/** Payload of one `events` record: usage already counted, for analytics. Keys are metric ids. */
export interface UsageEventPayload {
  readonly type: 'usage';
  readonly serviceId: string;
  readonly appId: string;
  /** Epoch ms of the usage. */
  readonly timestamp: number;
  /** Increments per metric id (propagated to ancestors unless flat_usage). */
  readonly usage: Readonly<Record<string, number>>;
  /** Counters set (`#N`) per metric id, when any. */
  readonly set?: Readonly<Record<string, number>>;
  /** `log[code]`: the upstream's response code, when given. */
  readonly responseCode?: string;
  /** `authrep` (counted on the request path), `report` (counted by the report worker) or `gateway`. */
  readonly source: 'authrep' | 'report' | 'gateway';
  /** Gateway events: the status sent to the client, total and upstream latency (ms), body bytes. */
  readonly status?: number;
  readonly latencyMs?: number;
  readonly upstreamMs?: number;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
}

/** A usage event with its own id (downstream de-duplication). */
export type IdentifiedUsageEvent = UsageEventPayload & { readonly id: string };

/**
 * Payload of one `events` record: a batch of usage events. Events travel in batches — one log entry
 * per flush, not per call — so the log costs one insert (or XADD) per batch on the request path's behalf.
 */
export interface UsageBatchPayload {
  readonly type: 'usage_batch';
  readonly events: readonly IdentifiedUsageEvent[];
}

/** Builds a usage event from processed usage (increments and sets split). */
export function usageEventOf(
  source: 'authrep' | 'report',
  serviceId: string,
  appId: string,
  usage: ProcessedUsage | null,
  responseCode: string | undefined,
  timestamp: number,
): UsageEventPayload {
  const inc: Record<string, number> = {};
  let set: Record<string, number> | undefined;
  if (usage !== null) {
    for (const [k, v] of usage) {
      if (!v.set) inc[k] = v.value;
      else {
        set ??= {};
        set[k] = v.value;
      }
    }
  }
  return {
    type: 'usage',
    source,
    serviceId,
    appId,
    timestamp,
    usage: inc,
    ...(set !== undefined ? { set } : {}),
    ...(responseCode !== undefined ? { responseCode } : {}),
  };
}

/** Recorder tuning. */
export interface RecorderOptions {
  readonly flushMs?: number;
  readonly maxBatch?: number;
  readonly maxQueue?: number;
}

// Process-unique prefix + sequence: unique ids without a random draw per event.
const ID_PREFIX = randomBytes(8).toString('hex');
let idSeq = 0;
/** A fresh id unique across processes (random prefix) and within this one (sequence). */
export function freshId(): string {
  idSeq++;
  return `${ID_PREFIX}-${idSeq.toString(36)}`;
}

/** A bounded batching queue that flushes via `sink`; failures drop the batch and count it. */
abstract class Batcher<T> {
  protected queue: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> = Promise.resolve();
  /** Entries dropped because the queue was full or a flush failed. */
  dropped = 0;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly maxQueue: number;

  constructor(opts: RecorderOptions) {
    this.flushMs = opts.flushMs ?? 100;
    this.maxBatch = opts.maxBatch ?? 500;
    this.maxQueue = opts.maxQueue ?? 50_000;
  }

  protected push(item: T): void {
    if (this.queue.length >= this.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push(item);
    if (this.queue.length >= this.maxBatch) {
      void this.flush();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Sends everything queued; resolves when it is written (or dropped after a failure). */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0) return this.inflight;
    const batch = this.queue;
    this.queue = [];
    this.inflight = this.inflight.then(() =>
      this.sink(batch).catch(() => {
        this.dropped += batch.length;
      }),
    );
    return this.inflight;
  }

  protected abstract sink(batch: T[]): Promise<void>;
}

/** Batches integration errors per service into the error log. */
export class ErrorRecorder extends Batcher<{ serviceId: string; error: IntegrationError }> {
  constructor(
    private readonly log: ErrorLog,
    opts: RecorderOptions = {},
  ) {
    super(opts);
  }

  record(serviceId: string, error: IntegrationError): void {
    this.push({ serviceId, error });
  }

  protected async sink(batch: { serviceId: string; error: IntegrationError }[]): Promise<void> {
    const byService = new Map<string, IntegrationError[]>();
    for (const e of batch) {
      const list = byService.get(e.serviceId);
      if (list === undefined) byService.set(e.serviceId, [e.error]);
      else list.push(e.error);
    }
    for (const [sid, errors] of byService) await this.log.add(sid, errors);
  }
}
