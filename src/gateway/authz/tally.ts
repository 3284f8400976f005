/**
 * Local counting for the `batched` and `leased` authorization modes: the gateway decides from what it
 * holds in memory and talks to the counter store in the background.
 *
 * State is kept per counter key (one application's metric in one period window): a `Cell`. Cells of one
 * application form a `Group` (they share a hash tag, so a group's store traffic is one script call).
 *
 * batched — a cell holds `known` (the store's value as last read), `inflight` (admitted, sent in the
 *   group's batch, not yet acknowledged) and `pending` (admitted, not yet sent). A call is admitted when
 *   `known + inflight + pending + delta ≤ max` for every limit it touches, and its usage joins `pending`.
 *   Every `flush_ms` each group sends its pending increments as one idempotent batch and reads back the
 *   values of the counters it decided on since the last batch. A decision never uses a `known` value read
 *   more than `2 × flush_ms` ago: such a cell (and a cell never read) is read first, the call awaiting it;
 *   concurrent calls needing the same cell share that read.
 *
 * leased — a limited cell holds a `Lease`: `avail` units granted by the store (already counted there),
 *   spent locally. A call is admitted when every limit it touches has `avail ≥ delta`; when one falls
 *   below a low-water mark a renewal is asked for in the background; a call finding a lease short awaits
 *   one (calls waiting together ask together). A grant smaller than asked means the limit is used up: the
 *   lease is "dry" and calls are denied without asking again for `dryRetryMs`. Units not spent for
 *   `leaseIdleMs` (a window that ended, an idle application) and every unit at close are returned. Usage
 *   of counters without a limit is counted like `batched` pending increments.
 *
 * Store failures: a decision that can be made from memory is made. One that needs the store while it is
 * unreachable (breaker open, or the call fails) gets the service's `on_store_failure`: `deny` throws a
 * StoreUnavailableError (the caller answers 503); `allow` admits from what is known and counts the usage
 * as pending increments, written when the store is back.
 */
import { randomBytes } from 'node:crypto';
import { type CounterPlan, type CounterResult, firstFailingCheck } from '../../domain/counters.js';
import {
  batchOwnerKey,
  type LeaseAnswer,
  type QuotaStore,
  tagOfCounterKey,
} from '../../store/counters/lease-port.js';
import { type StoreGuard, StoreUnavailableError } from './guard.js';

/** A service's settings as the engine uses them. */
export interface TallySettings {
  /** batched: flush interval; also the period of background work for leases. */
  readonly flushMs: number;
  readonly timeoutMs: number;
  /** `on_store_failure: allow`. */
  readonly allowOnFailure: boolean;
  /** leased: units per grant (undefined: max(1, ceil(limit / 20))). */
  readonly leaseSize: number | undefined;
}

export interface TallyOptions {
  readonly quota: QuotaStore;
  readonly guard: StoreGuard;
  readonly clock?: () => number;
  /** This writer's id in batch sequence keys (default: random per instance). */
  readonly instance?: string;
  /** Lease units unspent this long are returned (ms, default 5000). */
  readonly leaseIdleMs?: number;
  /** After a short grant, how long short leases deny without asking again (ms, default 1000). */
  readonly dryRetryMs?: number;
  /** Cells untouched this long (and holding nothing) are forgotten (ms, default 60 000). */
  readonly forgetMs?: number;
}

/** Most renewal rounds one call waits for before it is denied (the units went to concurrent calls). */
const MAX_ROUNDS = 4;

class Lease {
  max = 0;
  avail = 0;
  /** The counter's value after our last grant. */
  usedAfter = 0;
  renewing: Promise<void> | null = null;
  /** Units wanted by calls waiting for the next renewal. */
  queued = 0;
  dryUntil = 0;
  spentAt = 0;
}

class Cell {
  known = 0;
  knownAt = Number.NEGATIVE_INFINITY;
  pending = 0;
  inflight = 0;
  expireAt = 0;
  checkedAt = Number.NEGATIVE_INFINITY;
  touchedAt: number;
  loading: Promise<void> | null = null;
  lease: Lease | null = null;

  constructor(
    readonly key: string,
    readonly group: Group,
    now: number,
  ) {
    this.touchedAt = now;
  }

  /** The local estimate of the counter. */
  value(): number {
    const l = this.lease;
    const base = l === null ? this.known : Math.max(0, l.usedAfter - l.avail);
    return base + this.inflight + this.pending;
  }
}

interface Batch {
  readonly seq: number;
  readonly items: readonly Cell[];
  readonly values: readonly number[];
  readonly expires: readonly number[];
  readonly reads: readonly Cell[];
}

class Group {
  readonly cells = new Map<string, Cell>();
  seq = 0;
  /** The batch sent and not yet acknowledged (re-sent as it is until it is). */
  batch: Batch | null = null;
  sending: Promise<void> | null = null;
  refreshedAt = Number.NEGATIVE_INFINITY;
  dueAt = 0;
  flushMs: number;
  timeoutMs: number;

  constructor(
    readonly tag: string,
    readonly ownerKey: string,
    s: TallySettings,
  ) {
    this.flushMs = s.flushMs;
    this.timeoutMs = s.timeoutMs;
  }
}

type Result = CounterResult | Promise<CounterResult>;

/** True when the plan is made of plain increments only (what mapping rules produce). */
export function plainPlan(plan: CounterPlan): boolean {
  if (plan.dedupe !== undefined) return false;
  for (const c of plan.checks) if (c.set) return false;
  for (const w of plan.writes) if (w.set) return false;
  return true;
}

/** Expiry of the plan's write to key index `key`, or undefined when the plan does not count that key. */
function writeExpiry(plan: CounterPlan, key: number): number | undefined {
  for (const w of plan.writes) if (w.key === key) return w.expireAt;
  return undefined;
}

/** True when every checked key is also counted by the plan (so a lease knows its window's expiry). */
export function leasablePlan(plan: CounterPlan): boolean {
  for (const c of plan.checks) if (writeExpiry(plan, c.key) === undefined) return false;
  return true;
}

function isChecked(plan: CounterPlan, key: number): boolean {
  for (const c of plan.checks) if (c.key === key) return true;
  return false;
}

const noop = (): void => undefined;

export class Tally {
  private readonly cells = new Map<string, Cell>();
  private readonly groups = new Map<string, Group>();
  private readonly clock: () => number;
  private readonly instance: string;
  private readonly quota: QuotaStore;
  private readonly guard: StoreGuard;
  private readonly leaseIdleMs: number;
  private readonly dryRetryMs: number;
  private readonly forgetMs: number;
  private timer: NodeJS.Timeout | undefined;
  private tickMs = 0;
  private closed = false;

  constructor(opts: TallyOptions) {
    this.quota = opts.quota;
    this.guard = opts.guard;
    this.clock = opts.clock ?? Date.now;
    this.instance = opts.instance ?? randomBytes(6).toString('hex');
    this.leaseIdleMs = opts.leaseIdleMs ?? 5000;
    this.dryRetryMs = opts.dryRetryMs ?? 1000;
    this.forgetMs = opts.forgetMs ?? 60_000;
  }

  // ---- decisions -------------------------------------------------------------------------------------

  /** batched: decides and counts `plan` locally; awaits a read only for cells never read or too old. */
  batched(plan: CounterPlan, s: TallySettings): Result {
    const now = this.clock();
    const staleMs = 2 * s.flushMs;
    let stale: Cell[] | null = null;
    const { keys, checks } = plan;
    for (let i = 0; i < checks.length; i++) {
      const c = this.cell(keys[checks[i]!.key]!, s, now);
      if (now - c.knownAt > staleMs) {
        if (stale === null) stale = [];
        stale.push(c);
      }
    }
    if (stale === null) return this.applyBatched(plan, now);
    if (!this.quota.local && this.guard.blocked()) {
      if (!s.allowOnFailure) throw new StoreUnavailableError('store unavailable (circuit open)', true);
      return this.applyBatched(plan, now);
    }
    return this.load(stale, s).then(
      () => this.applyBatched(plan, this.clock()),
      (err: unknown) => {
        if (!s.allowOnFailure) throw err;
        return this.applyBatched(plan, this.clock());
      },
    );
  }

  private applyBatched(plan: CounterPlan, now: number): CounterResult {
    const { keys, checks, writes } = plan;
    const cells = new Array<Cell>(keys.length);
    const values = new Array<number>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const c = this.cellAt(keys[i]!, now);
      cells[i] = c;
      values[i] = c.value();
    }
    const failed = firstFailingCheck(plan, values);
    if (failed >= 0) return { status: 'denied', values, failedCheck: failed };
    for (let i = 0; i < checks.length; i++) cells[checks[i]!.key]!.checkedAt = now;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      if (w.expireAt !== 0 && w.expireAt <= now) continue;
      const c = cells[w.key]!;
      c.pending += w.value;
      c.expireAt = w.expireAt;
      c.touchedAt = now;
    }
    return { status: 'applied', values };
  }

  /** leased: decides from the leases held; awaits a renewal only when one is short. */
  leased(plan: CounterPlan, s: TallySettings, round = 0): Result {
    const now = this.clock();
    const { keys, checks } = plan;
    const cells = new Array<Cell>(keys.length);
    for (let i = 0; i < keys.length; i++) cells[i] = this.cellAt(keys[i]!, now);
    let short: number[] | null = null;
    for (let i = 0; i < checks.length; i++) {
      const ch = checks[i]!;
      const c = cells[ch.key]!;
      c.group.flushMs = s.flushMs;
      c.group.timeoutMs = s.timeoutMs;
      let l = c.lease;
      if (l === null) {
        l = new Lease();
        l.max = ch.max;
        c.lease = l;
        c.expireAt = writeExpiry(plan, ch.key) ?? 0;
      } else if (l.max !== ch.max) {
        this.relimit(c, l, ch.max, s);
      }
      if (l.avail < ch.value) {
        if (short === null) short = [];
        short.push(i);
      }
    }
    const values = new Array<number>(keys.length);
    for (let i = 0; i < keys.length; i++) values[i] = cells[i]!.value();
    if (short === null) {
      for (let i = 0; i < checks.length; i++) {
        const ch = checks[i]!;
        const c = cells[ch.key]!;
        const l = c.lease!;
        l.avail -= ch.value;
        l.spentAt = now;
        c.touchedAt = now;
        if (l.renewing === null && l.dryUntil <= now && l.avail < this.lowWater(l, s))
          this.renew(c, 0, s).catch(noop);
      }
      this.countUnleased(plan, cells, now);
      return { status: 'applied', values };
    }
    for (const i of short) {
      if (cells[checks[i]!.key]!.lease!.dryUntil > now || round >= MAX_ROUNDS)
        return { status: 'denied', values, failedCheck: i };
    }
    if (!this.quota.local && this.guard.blocked()) {
      if (!s.allowOnFailure) throw new StoreUnavailableError('store unavailable (circuit open)', true);
      return this.overdraft(plan, cells, values, now);
    }
    const waits = short.map((i) => this.renew(cells[checks[i]!.key]!, checks[i]!.value, s));
    return (waits.length === 1 ? waits[0]! : Promise.all(waits)).then(
      () => this.leased(plan, s, round + 1),
      (err: unknown) => {
        if (!s.allowOnFailure) throw err;
        return this.overdraft(plan, cells, values, this.clock());
      },
    );
  }

  /**
   * `on_store_failure: allow` without enough units: decided like `batched` on the usage last known (the
   * counter after our last grant, less our unspent units, plus what was admitted since without a lease);
   * spends what the leases have and counts the rest as pending increments, written when the store is back.
   */
  private overdraft(plan: CounterPlan, cells: Cell[], values: number[], now: number): CounterResult {
    const failed = firstFailingCheck(plan, values);
    if (failed >= 0) return { status: 'denied', values, failedCheck: failed };
    for (const ch of plan.checks) {
      const c = cells[ch.key]!;
      const l = c.lease!;
      const taken = Math.min(Math.max(l.avail, 0), ch.value);
      l.avail -= taken;
      l.spentAt = now;
      c.pending += ch.value - taken;
      c.touchedAt = now;
    }
    this.countUnleased(plan, cells, now);
    return { status: 'applied', values };
  }

  /** Counts the plan's writes to counters it does not check (no lease): as batched pending increments. */
  private countUnleased(plan: CounterPlan, cells: Cell[], now: number): void {
    for (const w of plan.writes) {
      if (w.expireAt !== 0 && w.expireAt <= now) continue;
      if (isChecked(plan, w.key)) continue;
      const c = cells[w.key]!;
      c.pending += w.value;
      c.expireAt = w.expireAt;
      c.touchedAt = now;
    }
  }

  /** A limit changed: a lowered one gives back the units held under the old one. */
  private relimit(c: Cell, l: Lease, max: number, s: TallySettings): void {
    if (max < l.max && l.avail > 0) this.release([c], s.timeoutMs);
    l.max = max;
    l.dryUntil = 0;
  }

  private chunk(l: Lease, s: TallySettings): number {
    return Math.max(1, s.leaseSize ?? Math.ceil(l.max / 20));
  }

  private lowWater(l: Lease, s: TallySettings): number {
    return Math.ceil(this.chunk(l, s) / 2);
  }

  /**
   * Asks the store for more units of `c`'s limit (`need` units for the calling request, 0 for a
   * prefetch). One renewal per lease at a time: calls arriving meanwhile wait for it. The ask leaves on
   * the next turn of the event loop, so the needs of calls arriving together add up into one ask.
   */
  private renew(c: Cell, need: number, s: TallySettings): Promise<void> {
    const l = c.lease!;
    l.queued += need;
    if (l.renewing !== null) return l.renewing;
    const p = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const want = Math.max(this.chunk(l, s), l.queued);
        l.queued = 0;
        const ask = [{ key: c.key, max: l.max, want, expireAt: c.expireAt }];
        const call = this.quota.local
          ? this.quota.grant(ask)
          : this.guard.run(() => this.quota.grant(ask), s.timeoutMs);
        call.then(
          (answers: LeaseAnswer[]) => {
            const a = answers[0]!;
            l.renewing = null;
            l.avail += a.granted;
            l.usedAfter = a.used;
            const at = this.clock();
            l.spentAt = at; // a fresh grant counts as activity: not returned as idle at once
            l.dryUntil = a.granted < want ? at + this.dryRetryMs : 0;
            if (this.closed && l.avail > 0) this.release([c], s.timeoutMs);
            resolve();
          },
          (err: unknown) => {
            l.renewing = null;
            reject(err);
          },
        );
      });
    });
    l.renewing = p;
    this.ensureTick(s.flushMs);
    return p;
  }

  /** Returns the unspent units of `cells` (all of one group). Units handed back are gone from the lease. */
  private release(cells: readonly Cell[], timeoutMs: number): Promise<void> {
    const returns = [];
    for (const c of cells) {
      const l = c.lease;
      if (l === null || l.avail <= 0) continue;
      returns.push({ key: c.key, units: l.avail, expireAt: c.expireAt });
      l.usedAfter -= l.avail;
      l.avail = 0;
    }
    if (returns.length === 0) return Promise.resolve();
    // A return that fails may or may not have applied: its units are not taken back (they stay counted,
    // erring on the side of the limit).
    const call = this.quota.local
      ? this.quota.release(returns)
      : this.guard.watch(this.quota.release(returns), timeoutMs);
    return call.catch(noop);
  }

  // ---- reads and flushes ------------------------------------------------------------------------------

  /** Reads `cells` (one group's); a cell already being read is waited for, not read twice. */
  private load(cells: readonly Cell[], s: TallySettings): Promise<void> {
    let fresh: Cell[] | null = null;
    let waits: Promise<void>[] | null = null;
    for (const c of cells) {
      if (c.loading !== null) {
        if (waits === null) waits = [];
        waits.push(c.loading);
      } else {
        if (fresh === null) fresh = [];
        fresh.push(c);
      }
    }
    if (fresh !== null) {
      const batch = fresh;
      const sentAt = this.clock();
      const keys = batch.map((c) => c.key);
      const call = this.quota.local
        ? this.quota.read(keys)
        : this.guard.run(() => this.quota.read(keys), s.timeoutMs);
      const p: Promise<void> = call.then(
        (values) => {
          for (let i = 0; i < batch.length; i++) {
            const c = batch[i]!;
            if (c.loading === p) c.loading = null;
            this.learn(c, values[i]!, sentAt);
          }
        },
        (err: unknown) => {
          for (const c of batch) if (c.loading === p) c.loading = null;
          throw err;
        },
      );
      for (const c of batch) c.loading = p;
      if (waits === null) waits = [];
      waits.push(p);
      this.ensureTick(s.flushMs);
    }
    const all = waits!;
    return all.length === 1 ? all[0]! : Promise.all(all).then(noop);
  }

  private learn(c: Cell, value: number, sentAt: number): void {
    if (sentAt < c.knownAt) return;
    c.known = value;
    c.knownAt = sentAt;
  }

  /** Sends `g`'s batch: the unacknowledged one again, else its pending increments and refresh reads. */
  private flushGroup(g: Group, now: number): Promise<void> | null {
    if (g.sending !== null) return g.sending;
    let b = g.batch;
    if (b === null) {
      const items: Cell[] = [];
      const values: number[] = [];
      const expires: number[] = [];
      const reads: Cell[] = [];
      for (const c of g.cells.values()) {
        if (c.pending !== 0) {
          if (c.expireAt !== 0 && c.expireAt <= now) {
            c.pending = 0; // the window is over: the store would skip it too
            continue;
          }
          items.push(c);
          values.push(c.pending);
          expires.push(c.expireAt);
          c.inflight += c.pending;
          c.pending = 0;
        } else if (c.lease === null && c.checkedAt > g.refreshedAt) {
          reads.push(c);
        }
      }
      if (items.length === 0 && reads.length === 0) return null;
      b = { seq: ++g.seq, items, values, expires, reads };
      g.batch = b;
    }
    if (!this.quota.local && !this.guard.enter()) return null;
    const batch = b;
    const sentAt = now;
    g.refreshedAt = now;
    const req = {
      ownerKey: g.ownerKey,
      seq: batch.seq,
      increments: batch.items.map((c, i) => ({
        key: c.key,
        value: batch.values[i]!,
        expireAt: batch.expires[i]!,
      })),
      reads: batch.reads.map((c) => c.key),
    };
    const call = this.quota.local
      ? this.quota.apply(req)
      : this.guard.watch(this.quota.apply(req), g.timeoutMs);
    const p = call.then(
      (values) => {
        g.sending = null;
        g.batch = null;
        const n = batch.items.length;
        for (let i = 0; i < n; i++) {
          const c = batch.items[i]!;
          c.inflight -= batch.values[i]!;
          this.learn(c, values[i]!, sentAt);
        }
        for (let j = 0; j < batch.reads.length; j++) this.learn(batch.reads[j]!, values[n + j]!, sentAt);
      },
      () => {
        g.sending = null; // the batch stays, and is sent again as it is
      },
    );
    g.sending = p;
    return p;
  }

  // ---- background --------------------------------------------------------------------------------------

  /** Runs the background work at least every `flushMs`. */
  private ensureTick(flushMs: number): void {
    if (this.closed || (this.timer !== undefined && this.tickMs <= flushMs)) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.tickMs = flushMs;
    this.timer = setInterval(() => this.tick(), flushMs);
    this.timer.unref();
  }

  /** One round of background work: due flushes, idle lease returns, forgetting idle cells. */
  tick(): void {
    const now = this.clock();
    for (const g of this.groups.values()) {
      if (now >= g.dueAt) {
        g.dueAt = now + g.flushMs - this.tickMs; // so a group is flushed at least every flushMs
        this.flushGroup(g, now);
      }
      let idle: Cell[] | null = null;
      for (const c of g.cells.values()) {
        const l = c.lease;
        if (l !== null && l.avail > 0 && l.renewing === null && now - l.spentAt >= this.leaseIdleMs) {
          if (idle === null) idle = [];
          idle.push(c);
        } else if (this.forgettable(c, now)) {
          g.cells.delete(c.key);
          this.cells.delete(c.key);
        }
      }
      if (idle !== null && (this.quota.local || !this.guard.blocked())) this.release(idle, g.timeoutMs);
      if (g.cells.size === 0 && g.batch === null && g.sending === null) this.groups.delete(g.tag);
    }
  }

  private forgettable(c: Cell, now: number): boolean {
    if (c.pending !== 0 || c.inflight !== 0 || c.loading !== null) return false;
    const l = c.lease;
    if (l !== null && (l.avail > 0 || l.renewing !== null)) return false;
    if (c.expireAt !== 0 && c.expireAt <= now) return true;
    return now - c.touchedAt >= this.forgetMs && now - c.checkedAt >= this.forgetMs;
  }

  /**
   * Writes what is pending and returns every unspent unit (two rounds, each bounded by the store
   * timeout); what still fails is given up (pending increments are then lost, unreturned units stay
   * counted). Decisions made afterwards are still counted, by no one: close only at shutdown.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (let round = 0; round < 2; round++) {
      const work: Promise<unknown>[] = [];
      for (const g of this.groups.values()) {
        for (const c of g.cells.values()) {
          if (c.lease?.renewing) work.push(c.lease.renewing.catch(noop));
          if (c.loading !== null) work.push(c.loading.catch(noop));
        }
        if (g.sending !== null) work.push(g.sending);
      }
      await Promise.all(work);
      const sends: Promise<unknown>[] = [];
      for (const g of this.groups.values()) {
        const f = this.flushGroup(g, this.clock());
        if (f !== null) sends.push(f);
        sends.push(this.release([...g.cells.values()], g.timeoutMs));
      }
      await Promise.all(sends);
    }
  }

  // ---- cells ---------------------------------------------------------------------------------------------

  /** The cell of `key` (created with its group), its group taking `s`'s timing. */
  private cell(key: string, s: TallySettings, now: number): Cell {
    const c = this.cellAt(key, now);
    c.group.flushMs = s.flushMs;
    c.group.timeoutMs = s.timeoutMs;
    this.ensureTick(s.flushMs);
    return c;
  }

  private cellAt(key: string, now: number): Cell {
    let c = this.cells.get(key);
    if (c !== undefined) return c;
    const tag = tagOfCounterKey(key) ?? key;
    let g = this.groups.get(tag);
    if (g === undefined) {
      g = new Group(tag, batchOwnerKey(tag, this.instance), DEFAULT_SETTINGS);
      this.groups.set(tag, g);
    }
    c = new Cell(key, g, now);
    g.cells.set(key, c);
    this.cells.set(key, c);
    return c;
  }

  /** Local estimates of `keys` (for reads on a denial path: no I/O). */
  values(keys: readonly string[]): number[] {
    const out = new Array<number>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const c = this.cells.get(keys[i]!);
      out[i] = c === undefined ? 0 : c.value();
    }
    return out;
  }

  /** Test and metrics view of one counter key. */
  inspect(key: string): { pending: number; inflight: number; known: number; avail: number } | null {
    const c = this.cells.get(key);
    if (c === undefined) return null;
    return { pending: c.pending, inflight: c.inflight, known: c.known, avail: c.lease?.avail ?? 0 };
  }
}

export const DEFAULT_FLUSH_MS = 500;
export const DEFAULT_STORE_TIMEOUT_MS = 200;
const DEFAULT_SETTINGS: TallySettings = {
  flushMs: DEFAULT_FLUSH_MS,
  timeoutMs: DEFAULT_STORE_TIMEOUT_MS,
  allowOnFailure: false,
  leaseSize: undefined,
};
