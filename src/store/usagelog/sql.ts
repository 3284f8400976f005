/**
 * Embedded usage log over SQL (tables `usage_log`, `usage_log_groups`). Guarantees: an append is one
 * transaction (all its records or none); at-least-once per consumer group, in append order; a group's
 * durable cursor only advances over a contiguous acked prefix, so after a restart (a new instance) every
 * unacked entry is delivered again, and within a process after `reclaimAfterMs`. Meant for one consuming
 * process per group (the embedded deployment); several processes on one group would each get every entry
 * (still at-least-once, but duplicated: use Redis Streams for that). Blocking reads wake at once on
 * appends made by this instance, and look for other processes' appends every `pollMs`, backing off to
 * `maxPollMs` while the stream stays empty (an idle worker then queries a few times a second, not ten).
 */
import type { Kysely } from 'kysely';
import type { Delivery, LogRecord, UsageLog, UsageStream } from '../ports.js';
import type { DB } from '../sql/schema.js';
import { AppendSignal, DEFAULT_RECLAIM_AFTER_MS, DeliveryTracker, type UsageLogOptions } from './memory.js';

export interface SqlUsageLogOptions extends UsageLogOptions {
  /** How often a blocked read looks for entries appended by other processes (default 100 ms)… */
  readonly pollMs?: number;
  /** …doubling while the stream stays empty, up to this (default 1000 ms; a delivery resets it). */
  readonly maxPollMs?: number;
}

/** Rows per INSERT: 4 parameters each, well under SQLite's and PostgreSQL's limits. */
const CHUNK = 500;

export class SqlUsageLog implements UsageLog {
  private readonly trackers = new Map<string, DeliveryTracker>();
  /** Reads of one group run one at a time, so two consumers never take the same entries. */
  private readonly locks = new Map<string, Promise<unknown>>();
  /**
   * One per stream: an append wakes the blocked reads of its own stream only (the gateway's frequent
   * `events` appends do not make a worker's blocked `reports` read query the table again).
   */
  private readonly signals: Record<UsageStream, AppendSignal> = {
    reports: new AppendSignal(),
    events: new AppendSignal(),
  };
  private readonly clock: () => number;
  private readonly reclaimAfterMs: number;
  private readonly pollMs: number;
  private readonly maxPollMs: number;
  /** Per stream and group: the wait before the next look while it stays empty (absent: `pollMs`). */
  private readonly idleWaits = new Map<string, number>();
  private closed = false;
  /** Reads of the log table made by blocked and unblocked reads (for tests and diagnostics). */
  takes = 0;

  /** Does not own `db` (the SQL store is shared and closed by its opener). */
  constructor(
    private readonly db: Kysely<DB>,
    opts: SqlUsageLogOptions = {},
  ) {
    this.clock = opts.clock ?? Date.now;
    this.reclaimAfterMs = opts.reclaimAfterMs ?? DEFAULT_RECLAIM_AFTER_MS;
    this.pollMs = opts.pollMs ?? 100;
    this.maxPollMs = Math.max(this.pollMs, opts.maxPollMs ?? 1000);
  }

  async append(stream: UsageStream, records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const now = this.clock();
    const rows = records.map((r) => ({
      stream,
      record_id: r.id,
      payload: JSON.stringify(r.payload ?? null),
      created_at: now,
    }));
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < rows.length; i += CHUNK) {
        await tx
          .insertInto('usage_log')
          .values(rows.slice(i, i + CHUNK))
          .execute();
      }
    });
    this.signals[stream].notify();
  }

  async read(
    stream: UsageStream,
    group: string,
    _consumer: string,
    max: number,
    blockMs: number,
  ): Promise<Delivery[]> {
    const deadline = this.clock() + blockMs;
    const key = `${stream}\n${group}`;
    for (;;) {
      const out = await this.locked(key, () => this.take(stream, group, max));
      if (out.length > 0) this.idleWaits.delete(key);
      const left = deadline - this.clock();
      if (out.length > 0 || left <= 0 || this.closed) return out;
      const wait = this.idleWaits.get(key) ?? this.pollMs;
      if (await this.signals[stream].wait(Math.min(left, wait))) this.idleWaits.delete(key);
      else this.idleWaits.set(key, Math.min(wait * 2, this.maxPollMs));
    }
  }

  async ack(stream: UsageStream, group: string, seqs: readonly string[]): Promise<void> {
    const cursor = this.trackers.get(`${stream}\n${group}`)?.ack(seqs.map(Number));
    if (cursor == null) return;
    // Never move a cursor back (another process of the same group may have gone further).
    await this.db
      .updateTable('usage_log_groups')
      .set({ last_seq: cursor })
      .where('stream', '=', stream)
      .where('group_name', '=', group)
      .where('last_seq', '<', cursor)
      .execute();
  }

  async trim(stream: UsageStream, olderThanMs: number): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      const { floor } = await tx
        .selectFrom('usage_log_groups')
        .select((eb) => eb.fn.min('last_seq').as('floor'))
        .where('stream', '=', stream)
        .executeTakeFirstOrThrow();
      let q = tx.deleteFrom('usage_log').where('stream', '=', stream).where('created_at', '<', olderThanMs);
      if (floor !== null) q = q.where('seq', '<=', Number(floor));
      const res = await q.executeTakeFirst();
      return Number(res.numDeletedRows);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of Object.values(this.signals)) s.notify();
    await Promise.all([...this.locks.values()].map((p) => p.catch(() => undefined)));
  }

  private locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  private async tracker(stream: UsageStream, group: string): Promise<DeliveryTracker> {
    const key = `${stream}\n${group}`;
    const known = this.trackers.get(key);
    if (known) return known;
    // A group starts at the beginning of the log, like XGROUP CREATE … 0.
    await this.db
      .insertInto('usage_log_groups')
      .values({ stream, group_name: group, last_seq: 0 })
      .onConflict((oc) => oc.columns(['stream', 'group_name']).doNothing())
      .execute();
    const row = await this.db
      .selectFrom('usage_log_groups')
      .select('last_seq')
      .where('stream', '=', stream)
      .where('group_name', '=', group)
      .executeTakeFirstOrThrow();
    const tracker = new DeliveryTracker(Number(row.last_seq));
    this.trackers.set(key, tracker);
    return tracker;
  }

  private async take(stream: UsageStream, group: string, max: number): Promise<Delivery[]> {
    this.takes++;
    const tracker = await this.tracker(stream, group);
    const now = this.clock();
    const again = tracker.reclaim(now, this.reclaimAfterMs, max);
    const cols = ['seq', 'record_id', 'payload'] as const;
    const old =
      again.length === 0
        ? []
        : await this.db
            .selectFrom('usage_log')
            .select(cols)
            .where('stream', '=', stream)
            .where('seq', 'in', again)
            .orderBy('seq')
            .execute();
    const fresh =
      max - again.length <= 0
        ? []
        : await this.db
            .selectFrom('usage_log')
            .select(cols)
            .where('stream', '=', stream)
            .where('seq', '>', tracker.after)
            .orderBy('seq')
            .limit(max - again.length)
            .execute();
    tracker.deliver(
      fresh.map((r) => Number(r.seq)),
      now,
    );
    return [...old, ...fresh].map((r) => ({
      seq: String(r.seq),
      record: { id: r.record_id, payload: JSON.parse(r.payload) as unknown },
    }));
  }
}
