/**
 * Usage log over Redis Streams, one stream key per UsageStream, one consumer group per reader group.
 * Guarantees: at-least-once per group across any number of processes; each entry goes to one consumer of
 * a group at a time; an entry left unacked (its consumer crashed or stalled) for `reclaimAfterMs` is
 * claimed (XAUTOCLAIM) by the next reader of the group; a group created later starts at the beginning
 * of the stream. Blocking reads use a dedicated connection per consumer so they never stall other commands.
 * XADD caps each stream at about `maxLen` entries as a safety net; `trim` is the retention that respects
 * unacked entries.
 */
import type { Delivery, LogRecord, UsageLog, UsageStream } from '../ports.js';
import { quietErrors, quitQuietly, type Redis } from '../redis.js';
import { DEFAULT_RECLAIM_AFTER_MS } from './memory.js';

export interface RedisUsageLogOptions {
  /** An entry unacked for this long is claimed by the group's next reader (default 30 000 ms). */
  readonly reclaimAfterMs?: number;
  /** Approximate cap per stream (XADD MAXLEN ~), default 1 000 000. */
  readonly maxLen?: number;
}

/** Appends per pipeline flush: keeps one append's memory bounded. */
const APPEND_BATCH = 1000;

type RawEntry = [id: string, fields: string[] | null];

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Stream ids compare as (ms, seq). */
function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? d : Number(as) - Number(bs);
}

function nextId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${ms}-${Number(seq) + 1}`;
}

function toDelivery([id, fields]: RawEntry): Delivery | null {
  if (fields === null) return null; // deleted (trimmed) while pending, reported by Redis 6.2
  let rid = '';
  let payload = 'null';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'i') rid = fields[i + 1]!;
    else if (fields[i] === 'p') payload = fields[i + 1]!;
  }
  return { seq: id, record: { id: rid, payload: JSON.parse(payload) as unknown } };
}

/**
 * Entries of an XREADGROUP reply over one stream: `null` (timeout), `[[key, entries]]`, or — as ioredis
 * 6 returns it through `call()` for a single stream — `[key, entries]`.
 */
function streamEntries(reply: unknown): RawEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  if (typeof reply[0] === 'string') return (reply[1] ?? []) as RawEntry[];
  return reply.flatMap((s) => (Array.isArray(s) ? ((s[1] ?? []) as RawEntry[]) : []));
}

function fieldMap(flat: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (Array.isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), flat[i + 1]);
  return m;
}

export class RedisUsageLog implements UsageLog {
  private readonly reclaimAfterMs: number;
  private readonly maxLen: number;
  private readonly groups = new Set<string>();
  /** XAUTOCLAIM resumes where it stopped, so each call scans a new part of the pending list. */
  private readonly claimCursor = new Map<string, string>();
  private readonly blocking = new Map<string, Redis>();
  private closed = false;

  /** Takes ownership of `client` (close() quits it). */
  constructor(
    private readonly client: Redis,
    opts: RedisUsageLogOptions = {},
  ) {
    this.reclaimAfterMs = opts.reclaimAfterMs ?? DEFAULT_RECLAIM_AFTER_MS;
    this.maxLen = opts.maxLen ?? 1_000_000;
  }

  async append(stream: UsageStream, records: readonly LogRecord[]): Promise<void> {
    const key = this.key(stream);
    for (let i = 0; i < records.length; i += APPEND_BATCH) {
      const p = this.client.pipeline();
      for (const r of records.slice(i, i + APPEND_BATCH)) {
        const payload = JSON.stringify(r.payload ?? null);
        p.call('XADD', key, 'MAXLEN', '~', this.maxLen, '*', 'i', r.id, 'p', payload);
      }
      const results = (await p.exec()) ?? [];
      const failed = results.find(([err]) => err !== null);
      if (failed?.[0]) throw failed[0];
    }
  }

  async read(
    stream: UsageStream,
    group: string,
    consumer: string,
    max: number,
    blockMs: number,
  ): Promise<Delivery[]> {
    try {
      return await this.withGroup(stream, group, async () => {
        const out = await this.reclaim(stream, group, consumer, max);
        if (out.length >= max) return out;
        const block = out.length === 0 && blockMs > 0;
        const conn = block ? this.blockingConnection(consumer) : this.client;
        const args: (string | number)[] = ['GROUP', group, consumer, 'COUNT', max - out.length];
        if (block) args.push('BLOCK', blockMs);
        args.push('STREAMS', this.key(stream), '>');
        for (const e of streamEntries(await conn.call('XREADGROUP', args))) {
          const d = toDelivery(e);
          if (d) out.push(d);
        }
        return out;
      });
    } catch (err) {
      if (this.closed) return []; // close() cut a blocked read short
      throw err;
    }
  }

  async ack(stream: UsageStream, group: string, seqs: readonly string[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.client.call('XACK', [this.key(stream), group, ...seqs]);
  }

  async trim(stream: UsageStream, olderThanMs: number): Promise<number> {
    const key = this.key(stream);
    let groups: unknown;
    try {
      groups = await this.client.call('XINFO', ['GROUPS', key]);
    } catch (err) {
      if (errorText(err).includes('no such key')) return 0;
      throw err;
    }
    // Drop only what every group has acked: below each group's oldest pending entry and at most up to
    // the last entry it was handed.
    let minId = `${olderThanMs}-0`;
    for (const g of Array.isArray(groups) ? groups : []) {
      const info = fieldMap(g);
      const name = String(info.get('name'));
      const last = String(info.get('last-delivered-id') ?? '0-0');
      if (compareIds(nextId(last), minId) < 0) minId = nextId(last);
      if (Number(info.get('pending') ?? 0) > 0) {
        const summary = (await this.client.call('XPENDING', [key, name])) as unknown[];
        const oldest = summary[1];
        if (typeof oldest === 'string' && compareIds(oldest, minId) < 0) minId = oldest;
      }
    }
    return Number(await this.client.call('XTRIM', [key, 'MINID', minId]));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.blocking.values()) c.disconnect();
    this.blocking.clear();
    await quitQuietly(this.client);
  }

  private key(stream: UsageStream): string {
    return `log:${stream}`;
  }

  private blockingConnection(consumer: string): Redis {
    let c = this.blocking.get(consumer);
    if (!c) {
      c = quietErrors(this.client.duplicate());
      this.blocking.set(consumer, c);
    }
    return c;
  }

  /** Runs `fn` once the group exists; re-creates it once if it vanished (stream deleted) meanwhile. */
  private async withGroup<T>(stream: UsageStream, group: string, fn: () => Promise<T>): Promise<T> {
    const id = `${stream}\n${group}`;
    for (let attempt = 0; ; attempt++) {
      if (!this.groups.has(id)) {
        try {
          await this.client.call('XGROUP', ['CREATE', this.key(stream), group, '0', 'MKSTREAM']);
        } catch (err) {
          if (!errorText(err).startsWith('BUSYGROUP')) throw err;
        }
        this.groups.add(id);
      }
      try {
        return await fn();
      } catch (err) {
        if (attempt > 0 || !errorText(err).startsWith('NOGROUP')) throw err;
        this.groups.delete(id);
      }
    }
  }

  private async reclaim(stream: UsageStream, group: string, consumer: string, max: number) {
    const id = `${stream}\n${group}`;
    const start = this.claimCursor.get(id) ?? '0-0';
    const reply = (await this.client.call('XAUTOCLAIM', [
      this.key(stream),
      group,
      consumer,
      this.reclaimAfterMs,
      start,
      'COUNT',
      max,
    ])) as [string, RawEntry[], ...unknown[]];
    this.claimCursor.set(id, reply[0]);
    const out: Delivery[] = [];
    for (const e of reply[1]) {
      const d = toDelivery(e);
      if (d) out.push(d);
    }
    return out;
  }
}
