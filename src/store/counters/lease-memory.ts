/**
 * The quota face of an in-process counter store (MemoryCounterStore). Each call reads and writes the
 * counters synchronously, in one turn of the event loop, so it is atomic like a Lua script; the answers
 * are wrapped in settled promises only to fit the port.
 */
import type { CounterPlan, CounterWrite } from '../../domain/counters.js';
import type { CounterStore } from '../ports.js';
import type { LeaseAnswer, LeaseAsk, LeaseReturn, QuotaBatch, QuotaStore } from './lease-port.js';

type SyncCounters = CounterStore & Required<Pick<CounterStore, 'executeSync' | 'readSync'>>;

export class MemoryQuotaStore implements QuotaStore {
  readonly local = true;
  /** Last applied seq per owner key (the counters are this process's, so is the memory of batches). */
  private readonly seqs = new Map<string, { seq: number; expireAt: number }>();

  /** Borrows `counters` (close() leaves it open): it must answer synchronously. */
  constructor(
    private readonly counters: CounterStore,
    private readonly clock: () => number = Date.now,
  ) {
    if (counters.executeSync === undefined || counters.readSync === undefined)
      throw new Error('MemoryQuotaStore needs a counter store that answers synchronously');
  }

  private get sync(): SyncCounters {
    return this.counters as SyncCounters;
  }

  grant(asks: readonly LeaseAsk[]): Promise<LeaseAnswer[]> {
    try {
      return Promise.resolve(this.grantSync(asks));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `grant` without a promise. */
  grantSync(asks: readonly LeaseAsk[]): LeaseAnswer[] {
    const now = this.clock();
    const used = this.sync.readSync(asks.map((a) => a.key));
    const out: LeaseAnswer[] = [];
    const writes: CounterWrite[] = [];
    for (let i = 0; i < asks.length; i++) {
      const a = asks[i]!;
      const before = used[i]!;
      const over = a.expireAt !== 0 && a.expireAt <= now;
      const granted = over ? 0 : Math.max(0, Math.min(a.want, a.max - before));
      if (granted > 0) writes.push({ key: i, value: granted, set: false, expireAt: a.expireAt });
      out.push({ granted, used: before + granted });
    }
    if (writes.length > 0)
      this.run(
        asks.map((a) => a.key),
        writes,
      );
    return out;
  }

  release(returns: readonly LeaseReturn[]): Promise<void> {
    try {
      const now = this.clock();
      const values = this.sync.readSync(returns.map((r) => r.key));
      const writes: CounterWrite[] = [];
      for (let i = 0; i < returns.length; i++) {
        const r = returns[i]!;
        const units = Math.min(r.units, values[i]!);
        if (units > 0 && (r.expireAt === 0 || r.expireAt > now))
          writes.push({ key: i, value: -units, set: false, expireAt: r.expireAt });
      }
      if (writes.length > 0)
        this.run(
          returns.map((r) => r.key),
          writes,
        );
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  apply(batch: QuotaBatch): Promise<number[]> {
    try {
      const now = this.clock();
      const last = this.seqs.get(batch.ownerKey);
      const seen = last !== undefined && last.expireAt > now && last.seq >= batch.seq;
      const keys = batch.increments.map((w) => w.key);
      if (!seen) {
        const writes: CounterWrite[] = batch.increments.map((w, i) => ({
          key: i,
          value: w.value,
          set: false,
          expireAt: w.expireAt,
        }));
        if (writes.length > 0) this.run(keys, writes);
        this.seqs.set(batch.ownerKey, { seq: batch.seq, expireAt: now + 86_400_000 });
        if (this.seqs.size > 100_000) this.sweep(now);
      }
      return Promise.resolve(this.sync.readSync([...keys, ...batch.reads]));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  read(keys: readonly string[]): Promise<number[]> {
    try {
      return Promise.resolve(this.sync.readSync(keys));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async close(): Promise<void> {}

  private run(keys: readonly string[], writes: CounterWrite[]): void {
    const plan: CounterPlan = { keys, checks: [], writes };
    this.sync.executeSync(plan);
  }

  private sweep(now: number): void {
    for (const [k, v] of this.seqs) if (v.expireAt <= now) this.seqs.delete(k);
  }
}
