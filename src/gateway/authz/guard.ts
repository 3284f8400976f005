/**
 * The store guard of the gateway's authorizers: a timeout on every store call and a circuit breaker
 * over all of them, so a dead store costs a request microseconds, not a timeout.
 *
 * Closed: calls go through, each bounded by its timeout. After `failureThreshold` consecutive failures
 * (errors or timeouts) the breaker opens: calls fail at once with a `StoreUnavailableError` (fast) and
 * the store is left alone. After `cooldownMs` one call is let through as a probe (half-open): its success
 * closes the breaker, its failure opens it for another cool-down. A call that settles after its timeout
 * has already counted as a failure; its late answer is ignored.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

/** A store call that failed, timed out, or was not attempted because the breaker is open (`fast`). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    message: string,
    readonly fast: boolean,
  ) {
    super(message);
  }
}

export interface GuardOptions {
  /** Consecutive failures that open the breaker (default 5). */
  readonly failureThreshold?: number;
  /** How long the breaker stays open before a probe (ms, default 1000). */
  readonly cooldownMs?: number;
  readonly clock?: () => number;
  /** Every store call that settled or timed out: its duration and whether it succeeded. */
  readonly observe?: (seconds: number, ok: boolean) => void;
  /** Breaker transitions (for logs). */
  readonly onState?: (state: BreakerState) => void;
}

export class StoreGuard {
  private failures = 0;
  private open = false;
  private openedAt = 0;
  private probing = false;
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly clock: () => number;

  constructor(private readonly opts: GuardOptions = {}) {
    this.threshold = Math.max(1, opts.failureThreshold ?? 5);
    this.cooldownMs = opts.cooldownMs ?? 1000;
    this.clock = opts.clock ?? Date.now;
  }

  get state(): BreakerState {
    if (!this.open) return 'closed';
    return this.probing || this.clock() - this.openedAt >= this.cooldownMs ? 'half_open' : 'open';
  }

  /** True when a call now would fail fast (open, or half-open with its probe under way). Takes nothing. */
  blocked(): boolean {
    return this.open && (this.probing || this.clock() - this.openedAt < this.cooldownMs);
  }

  /**
   * May a store call start now? When the answer is yes in half-open state, the caller holds the probe
   * and must report the call's outcome through `watch` (or `succeeded` / `failed`).
   */
  enter(): boolean {
    if (!this.open) return true;
    if (this.probing || this.clock() - this.openedAt < this.cooldownMs) return false;
    this.probing = true;
    return true;
  }

  /** A rejected promise for a call the breaker refused. */
  refuse<T>(): Promise<T> {
    return Promise.reject(new StoreUnavailableError('store unavailable (circuit open)', true));
  }

  /** Bounds `p` by `timeoutMs` and reports its outcome to the breaker. */
  watch<T>(p: Promise<T>, timeoutMs: number): Promise<T> {
    const started = performance.now();
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        this.failed(started);
        reject(new StoreUnavailableError(`store call timed out after ${timeoutMs} ms`, false));
      }, timeoutMs);
      p.then(
        (v) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          this.succeeded(started);
          resolve(v);
        },
        (err: unknown) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          this.failed(started);
          reject(err);
        },
      );
    });
  }

  /** `enter` then `watch` a call started by `start` (not started at all when the breaker refuses). */
  run<T>(start: () => Promise<T>, timeoutMs: number): Promise<T> {
    if (!this.enter()) return this.refuse();
    let p: Promise<T>;
    try {
      p = start();
    } catch (err) {
      p = Promise.reject(err);
    }
    return this.watch(p, timeoutMs);
  }

  succeeded(startedMs?: number): void {
    if (startedMs !== undefined) this.opts.observe?.((performance.now() - startedMs) / 1000, true);
    this.failures = 0;
    if (this.open) {
      this.open = false;
      this.probing = false;
      this.opts.onState?.('closed');
    }
  }

  failed(startedMs?: number): void {
    if (startedMs !== undefined) this.opts.observe?.((performance.now() - startedMs) / 1000, false);
    this.failures++;
    if (this.open) {
      if (this.probing) {
        this.probing = false;
        this.openedAt = this.clock();
      }
      return;
    }
    if (this.failures >= this.threshold) {
      this.open = true;
      this.probing = false;
      this.openedAt = this.clock();
      this.opts.onState?.('open');
    }
  }
}
