/**
 * In-process counter store: plans execute synchronously, so they are atomic by construction. Optionally
 * persisted (the embedded default flushes changed counters to SQL every second and on close, and loads
 * them at start), so a clean restart loses nothing and a crash loses at most the last second.
 */
import { type CounterPlan, type CounterResult, firstFailingCheck } from '../../domain/counters.js';
import type { CounterStore } from '../ports.js';

/** A persisted counter: `expireAt` 0 never expires. */
export interface CounterEntry {
  readonly key: string;
  readonly value: number;
  readonly expireAt: number;
}

/** Where a memory counter store keeps its counters across restarts. */
export interface CounterPersistence {
  load(now: number): Promise<CounterEntry[]>;
  /** Upserts `changed` and deletes `removed`, in one transaction. */
  save(changed: readonly CounterEntry[], removed: readonly string[]): Promise<void>;
}

interface Cell {
  value: number;
  expireAt: number;
}

export interface MemoryCounterOptions {
  readonly persistence?: CounterPersistence;
  /** Flush interval in ms (default 1000). */
  readonly flushMs?: number;
  readonly clock?: () => number;
}

export class MemoryCounterStore implements CounterStore {
  private readonly cells = new Map<string, Cell>();
  private readonly dirty = new Set<string>();
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: MemoryCounterOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Builds the store, loading persisted counters first when persistence is given. */
  static async open(opts: MemoryCounterOptions = {}): Promise<MemoryCounterStore> {
    const store = new MemoryCounterStore(opts);
    if (opts.persistence) {
      for (const e of await opts.persistence.load(store.clock())) {
        store.cells.set(e.key, { value: e.value, expireAt: e.expireAt });
      }
    }
    // The timer also sweeps expired windows, so memory only holds live counters.
    store.timer = setInterval(() => void store.flush().catch(() => undefined), opts.flushMs ?? 1000);
    store.timer.unref();
    return store;
  }

  async execute(plan: CounterPlan): Promise<CounterResult> {
    return this.executeSync(plan);
  }

  /** `execute` without a promise (CounterStore.executeSync): the embedded hot path. */
  executeSync(plan: CounterPlan): CounterResult {
    const now = this.clock();
    const values = plan.keys.map((k) => this.get(k, now));
    if (plan.dedupe && this.get(plan.dedupe.key, now) > 0) return { status: 'duplicate', values };
    const failed = firstFailingCheck(plan, values);
    if (failed >= 0) return { status: 'denied', values, failedCheck: failed };
    for (const w of plan.writes) {
      const key = plan.keys[w.key]!;
      if (w.expireAt !== 0 && w.expireAt <= now) continue;
      if (w.set && w.value === 0) {
        this.cells.delete(key);
      } else {
        const cell = this.cells.get(key);
        if (cell === undefined) {
          this.cells.set(key, { value: w.value, expireAt: w.expireAt });
        } else {
          // Updated in place: a fresh object per write would survive into the old generation and cost GC.
          const base = cell.expireAt === 0 || cell.expireAt > now ? cell.value : 0;
          cell.value = w.set ? w.value : base + w.value;
          cell.expireAt = w.expireAt;
        }
      }
      this.dirty.add(key);
    }
    if (plan.dedupe) {
      this.cells.set(plan.dedupe.key, { value: 1, expireAt: plan.dedupe.expireAt });
      this.dirty.add(plan.dedupe.key);
    }
    return { status: 'applied', values };
  }

  async read(keys: readonly string[]): Promise<number[]> {
    return this.readSync(keys);
  }

  /** `read` without a promise (CounterStore.readSync). */
  readSync(keys: readonly string[]): number[] {
    const now = this.clock();
    return keys.map((k) => this.get(k, now));
  }

  /** Writes changed counters to the persistence (serialized: one flush at a time). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow());
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private async flushNow(): Promise<void> {
    const p = this.opts.persistence;
    const now = this.clock();
    if (!p) {
      this.dirty.clear();
      for (const [key, c] of this.cells) if (c.expireAt !== 0 && c.expireAt <= now) this.cells.delete(key);
      return;
    }
    if (this.dirty.size === 0) return;
    const changed: CounterEntry[] = [];
    const removed: string[] = [];
    for (const key of this.dirty) {
      const c = this.cells.get(key);
      if (c && (c.expireAt === 0 || c.expireAt > now))
        changed.push({ key, value: c.value, expireAt: c.expireAt });
      else removed.push(key);
    }
    this.dirty.clear();
    // Expired cells are dropped from memory too, so the map only holds live windows.
    for (const [key, c] of this.cells) {
      if (c.expireAt !== 0 && c.expireAt <= now) {
        this.cells.delete(key);
        removed.push(key);
      }
    }
    try {
      await p.save(changed, removed);
    } catch (err) {
      for (const e of changed) this.dirty.add(e.key);
      for (const k of removed) this.dirty.add(k);
      throw err;
    }
  }

  private get(key: string, now: number): number {
    const c = this.cells.get(key);
    if (!c) return 0;
    if (c.expireAt !== 0 && c.expireAt <= now) return 0;
    return c.value;
  }
}
