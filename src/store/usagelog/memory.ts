/**
 * In-process usage log: the reference the SQL and Redis Streams logs are tested against. Guarantees:
 * at-least-once per consumer group; entries in append order; a delivery not acked is handed out again
 * after `reclaimAfterMs` or by a new instance over the same state (a "restart"). Payloads go through
 * JSON exactly as in the other logs. Also exports the delivery bookkeeping the SQL log shares.
 */
import type { Delivery, LogRecord, UsageLog, UsageStream } from '../ports.js';

export interface UsageLogOptions {
  /** A delivery unacked for this long is handed out again (default 30 000 ms). */
  readonly reclaimAfterMs?: number;
  readonly clock?: () => number;
}

export const DEFAULT_RECLAIM_AFTER_MS = 30_000;

interface Inflight {
  readonly seq: number;
  acked: boolean;
  at: number;
}

/**
 * What one instance handed out to one group: entries up to `after` were delivered (or acked before), and
 * `inflight` holds the delivered-but-not-yet-contiguously-acked ones in seq order. The group's durable
 * cursor only moves over a contiguous acked prefix, so a restart redelivers every unacked entry.
 */
export class DeliveryTracker {
  private delivered: number;
  private readonly inflight: Inflight[] = [];
  private readonly bySeq = new Map<number, Inflight>();

  constructor(cursor: number) {
    this.delivered = cursor;
  }

  /** Highest seq handed out by this instance (or the durable cursor it started from). */
  get after(): number {
    return this.delivered;
  }

  /** Up to `max` unacked deliveries idle for `idleMs` or more, marked as delivered again at `now`. */
  reclaim(now: number, idleMs: number, max: number): number[] {
    const out: number[] = [];
    for (const f of this.inflight) {
      if (out.length >= max) break;
      if (!f.acked && now - f.at >= idleMs) {
        f.at = now;
        out.push(f.seq);
      }
    }
    return out;
  }

  /** Records new deliveries (ascending seqs, all above `after`). */
  deliver(seqs: readonly number[], now: number): void {
    for (const seq of seqs) {
      const f = { seq, acked: false, at: now };
      this.inflight.push(f);
      this.bySeq.set(seq, f);
      this.delivered = seq;
    }
  }

  /** Marks `seqs` acked; returns the new durable cursor when the acked prefix grew, otherwise null. */
  ack(seqs: readonly number[]): number | null {
    for (const seq of seqs) {
      const f = this.bySeq.get(seq);
      if (f) f.acked = true;
    }
    let cursor: number | null = null;
    while (this.inflight.length > 0 && this.inflight[0]!.acked) {
      const f = this.inflight.shift()!;
      this.bySeq.delete(f.seq);
      cursor = f.seq;
    }
    // Everything delivered is acked: the cursor may jump over seqs of other streams or trimmed rows.
    if (cursor !== null && this.inflight.length === 0) cursor = this.delivered;
    return cursor;
  }
}

/** Wakes blocked reads when an append happens (in this process), or after a timeout. */
export class AppendSignal {
  private readonly waiters = new Set<() => void>();

  /** Resolves true when `notify` ended the wait, false after `ms`. */
  wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (notified: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(notified);
      };
      const wake = () => done(true);
      const timer = setTimeout(done, ms, false);
      this.waiters.add(wake);
    });
  }

  notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

interface StoredEntry {
  readonly seq: number;
  readonly id: string;
  readonly payload: string;
  readonly createdAt: number;
}

interface StreamState {
  entries: StoredEntry[];
  /** Durable cursor per group: every entry with seq <= cursor is acked. */
  readonly groups: Map<string, number>;
}

/** The "durable" part of a memory log: share it between instances to simulate a restart. */
export interface MemoryUsageLogState {
  nextSeq: number;
  readonly streams: Map<UsageStream, StreamState>;
  readonly signal: AppendSignal;
}

export function createMemoryUsageLogState(): MemoryUsageLogState {
  return { nextSeq: 1, streams: new Map(), signal: new AppendSignal() };
}

export class MemoryUsageLog implements UsageLog {
  private readonly trackers = new Map<string, DeliveryTracker>();
  private readonly clock: () => number;
  private readonly reclaimAfterMs: number;
  private closed = false;

  constructor(
    private readonly state: MemoryUsageLogState = createMemoryUsageLogState(),
    opts: UsageLogOptions = {},
  ) {
    this.clock = opts.clock ?? Date.now;
    this.reclaimAfterMs = opts.reclaimAfterMs ?? DEFAULT_RECLAIM_AFTER_MS;
  }

  async append(stream: UsageStream, records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const st = this.stream(stream);
    const now = this.clock();
    for (const r of records) {
      const payload = JSON.stringify(r.payload ?? null);
      st.entries.push({ seq: this.state.nextSeq++, id: r.id, payload, createdAt: now });
    }
    this.state.signal.notify();
  }

  async read(
    stream: UsageStream,
    group: string,
    _consumer: string,
    max: number,
    blockMs: number,
  ): Promise<Delivery[]> {
    const deadline = this.clock() + blockMs;
    for (;;) {
      const out = this.take(stream, group, max);
      const left = deadline - this.clock();
      if (out.length > 0 || left <= 0 || this.closed) return out;
      await this.state.signal.wait(Math.min(left, 50));
    }
  }

  async ack(stream: UsageStream, group: string, seqs: readonly string[]): Promise<void> {
    const tracker = this.trackers.get(`${stream}\n${group}`);
    const cursor = tracker?.ack(seqs.map(Number));
    if (cursor == null) return;
    const groups = this.stream(stream).groups;
    groups.set(group, Math.max(groups.get(group) ?? 0, cursor));
  }

  async trim(stream: UsageStream, olderThanMs: number): Promise<number> {
    const st = this.stream(stream);
    const floor = Math.min(...st.groups.values());
    const before = st.entries.length;
    st.entries = st.entries.filter((e) => !(e.createdAt < olderThanMs && e.seq <= floor));
    return before - st.entries.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.state.signal.notify();
  }

  private stream(stream: UsageStream): StreamState {
    let st = this.state.streams.get(stream);
    if (!st) {
      st = { entries: [], groups: new Map() };
      this.state.streams.set(stream, st);
    }
    return st;
  }

  private take(stream: UsageStream, group: string, max: number): Delivery[] {
    const st = this.stream(stream);
    if (!st.groups.has(group)) st.groups.set(group, 0);
    const key = `${stream}\n${group}`;
    let tracker = this.trackers.get(key);
    if (!tracker) {
      tracker = new DeliveryTracker(st.groups.get(group) ?? 0);
      this.trackers.set(key, tracker);
    }
    const now = this.clock();
    const bySeq = (seq: number) => st.entries.find((e) => e.seq === seq);
    const again = tracker.reclaim(now, this.reclaimAfterMs, max).map(bySeq);
    const fresh = st.entries.filter((e) => e.seq > tracker.after).slice(0, max - again.length);
    tracker.deliver(
      fresh.map((e) => e.seq),
      now,
    );
    return [...again, ...fresh]
      .filter((e): e is StoredEntry => e !== undefined)
      .map((e) => ({ seq: String(e.seq), record: { id: e.id, payload: JSON.parse(e.payload) } }));
  }
}
