/**
 * Usage recording off the response path: the authrep calls' usage events (backend) and one usage event per
 * forwarded request (gateway: with status, latency, upstream latency and bytes), queued and written to the
 * usage log's `events` stream in batches, in columns (usage-columns.ts).
 *
 * The queue is bounded (`maxQueue` events). It is written every `flushMs`, or at once when a batch is
 * full. A write that fails (the store is down) keeps its batch — same record ids, same event ids — and
 * is retried with backoff while new events keep queueing; events are dropped (and counted) only when the
 * bound is reached. So nothing is lost while the store is up, and an outage shorter than the queue's
 * capacity loses nothing either. A retried write that had in fact succeeded can write a batch twice:
 * events carry ids, and readers de-duplicate by id (the usage log is at-least-once). The backend's queue
 * drops a batch whose write failed instead (`retryFailedWrites: false`), counted like the other drops.
 */
import type { Logger } from '../obs/logger.js';
import type { LogRecord, UsageLog } from '../store/ports.js';
import { freshId, type UsageEventPayload } from './events.js';
import { type ExchangeOutcome, UsageColumnsBuilder } from './usage-columns.js';

export interface UsageSink {
  /** Queues one event (a gateway's with its exchange's outcome); never blocks, never throws. */
  record(event: UsageEventPayload, outcome?: ExchangeOutcome, latencyMs?: number): void;
  /** Writes everything queued (gives up after `timeoutMs`, default 5 s, when the store stays down). */
  flush(timeoutMs?: number): Promise<void>;
}

export interface UsageQueueOptions {
  /** Longest an event waits before its batch is written (default 100 ms). */
  readonly flushMs?: number;
  /** Events per usage-log record (default 1000). */
  readonly maxBatch?: number;
  /** Records per write (default 10: a backlog drains `maxBatch × maxRecords` events per round trip). */
  readonly maxRecords?: number;
  /** Most events held (default 200 000); past it new events are dropped and counted. */
  readonly maxQueue?: number;
  /** Retry backoff after a failed write: first and longest wait (default 100 ms and 5 s). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /**
   * Keep a batch whose write failed and retry it (default). False: drop it and count the drop — the
   * backend's authrep events, whose queue must never hold a backlog behind a dead store.
   */
  readonly retryFailedWrites?: boolean;
  readonly logger?: Logger;
}

interface Pending {
  readonly records: LogRecord[];
  readonly events: number;
}

export const DEFAULT_USAGE_QUEUE_MAX = 200_000;

export class UsageQueue implements UsageSink {
  /** Full batches waiting, then the one being filled (`open`). */
  private full: UsageColumnsBuilder[] = [];
  private open = new UsageColumnsBuilder();
  /** Events in `full` and `open`. */
  private queued = 0;
  /** The write in progress or being retried: its records keep their ids across retries. */
  private pending: Pending | null = null;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | null = null;
  private backoffMs: number;
  private outageSince = 0;
  private closed = false;
  dropped = 0;
  written = 0;
  failures = 0;

  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly maxRecords: number;
  private readonly maxQueue: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly retryFailed: boolean;
  private readonly logger: Logger | undefined;

  constructor(
    private readonly log: UsageLog,
    opts: UsageQueueOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 100;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.maxRecords = opts.maxRecords ?? 10;
    this.maxQueue = opts.maxQueue ?? DEFAULT_USAGE_QUEUE_MAX;
    this.retryMinMs = opts.retryMinMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.backoffMs = this.retryMinMs;
    this.retryFailed = opts.retryFailedWrites ?? true;
    this.logger = opts.logger;
  }

  /** Events held: queued, plus those of the write in progress. */
  get depth(): number {
    return this.queued + (this.pending === null ? 0 : this.pending.events);
  }

  record(event: UsageEventPayload, outcome?: ExchangeOutcome, latencyMs?: number): void {
    if (this.queued + (this.pending === null ? 0 : this.pending.events) >= this.maxQueue) {
      this.dropped++;
      return;
    }
    this.open.add(event, outcome, latencyMs);
    this.queued++;
    if (this.open.count >= this.maxBatch) {
      this.full.push(this.open);
      this.open = new UsageColumnsBuilder();
    }
    if (this.pumping !== null) return; // the running pump picks it up
    if (this.full.length > 0) this.kick();
    else if (this.timer === undefined) {
      this.timer = setTimeout(this.onTimer, this.flushMs);
      this.timer.unref();
    }
  }

  async flush(timeoutMs = 5000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.depth > 0 && performance.now() < deadline) {
      this.kick();
      const pump = this.pumping;
      if (pump === null) break;
      let t: NodeJS.Timeout | undefined;
      const left = deadline - performance.now();
      await Promise.race([pump, new Promise<void>((r) => (t = setTimeout(r, Math.max(0, left))))]);
      clearTimeout(t);
    }
  }

  /** Writes what is queued (up to `timeoutMs`), then stops; what is left is logged as lost. */
  async close(timeoutMs = 5000): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.depth > 0) {
      this.logger?.error({ events: this.depth }, 'usage log unreachable at shutdown: usage events lost');
    }
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.kick();
  };

  private kick(): void {
    if (this.pumping !== null || this.closed) return;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      // Less than a batch left: the timer writes it (batches stay large under a steady trickle).
      if (this.queued > 0 && !this.closed) {
        if (this.full.length > 0) this.kick();
        else if (this.timer === undefined) {
          this.timer = setTimeout(this.onTimer, this.flushMs);
          this.timer.unref();
        }
      }
    });
  }

  /** Writes batches until less than a full one is left (or everything, on the first round). */
  private async pump(): Promise<void> {
    let first = true;
    while (!this.closed) {
      if (this.pending === null) {
        if (this.queued === 0 || (!first && this.full.length === 0)) return;
        this.pending = this.cut();
      }
      first = false;
      const p = this.pending;
      try {
        await this.log.append('events', p.records);
      } catch (err) {
        this.failures++;
        if (!this.retryFailed) {
          this.pending = null;
          this.dropped += p.events;
          continue;
        }
        if (this.outageSince === 0) {
          this.outageSince = Date.now();
          this.logger?.warn({ err }, 'usage log unreachable: usage events are kept and retried');
        }
        await sleep(this.backoffMs);
        this.backoffMs = Math.min(this.retryMaxMs, this.backoffMs * 2);
        continue;
      }
      this.pending = null;
      this.written += p.events;
      this.backoffMs = this.retryMinMs;
      if (this.outageSince !== 0) {
        this.logger?.info(
          { downMs: Date.now() - this.outageSince, queued: this.depth },
          'usage log reachable again: buffered usage events are being written',
        );
        this.outageSince = 0;
      }
    }
  }

  /** Takes up to `maxRecords` batches off the queue (the open one too when no full one is waiting). */
  private cut(): Pending {
    if (this.full.length === 0) {
      this.full.push(this.open);
      this.open = new UsageColumnsBuilder();
    }
    const batches = this.full.splice(0, this.maxRecords);
    let events = 0;
    const records: LogRecord[] = [];
    for (const b of batches) {
      events += b.count;
      records.push({ id: freshId(), payload: b.payload() });
    }
    this.queued -= events;
    return { records, events };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
