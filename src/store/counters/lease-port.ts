/**
 * The quota face of a counter store, for the gateway's `batched` and `leased` authorization modes: lease
 * grants (reserve units of a limit, counted as used at once), returns of unused units, and idempotent
 * batches of increments. It works on the same counter keys as the CounterStore (`c:{service:app}:…`).
 *
 * Every call names keys of ONE application only (one hash tag), so each runs as one atomic unit on
 * Redis, Redis Cluster included.
 */

/** Ask for up to `want` units of the counter `key`, whose limit is `max`. */
export interface LeaseAsk {
  readonly key: string;
  readonly max: number;
  readonly want: number;
  /** The counter window's expiry (epoch ms; 0 = never): set when the grant creates the counter. */
  readonly expireAt: number;
}

/** What one ask got: `granted` units (0 when none are left), and the counter's value after the grant. */
export interface LeaseAnswer {
  readonly granted: number;
  readonly used: number;
}

/** Unused units of an earlier grant, handed back (the counter goes down by at most its value). */
export interface LeaseReturn {
  readonly key: string;
  readonly units: number;
  readonly expireAt: number;
}

/** One increment of a batch. */
export interface QuotaIncrement {
  readonly key: string;
  readonly value: number;
  readonly expireAt: number;
}

/**
 * A batch of increments that applies at most once: the store keeps, under `ownerKey`, the last `seq`
 * applied for that owner and skips a batch whose `seq` is not above it, so a batch re-sent after a
 * timeout (it may have applied) counts once.
 */
export interface QuotaBatch {
  /** One writer's sequence key (see `batchOwnerKey`): same hash tag as the counters. */
  readonly ownerKey: string;
  /** Increasing per owner. */
  readonly seq: number;
  readonly increments: readonly QuotaIncrement[];
  /** Further keys whose values are wanted back. */
  readonly reads: readonly string[];
}

export interface QuotaStore {
  /**
   * Per ask, atomically: `granted = max(0, min(want, max − counter))`, then `counter += granted`. The
   * counter therefore never passes `max` through a grant, however many gateways ask at once. Asks of a
   * window that is already over get nothing.
   */
  grant(asks: readonly LeaseAsk[]): Promise<LeaseAnswer[]>;
  /** Per return: `counter −= min(units, counter)` (an absent counter stays absent). */
  release(returns: readonly LeaseReturn[]): Promise<void>;
  /**
   * Applies the batch's increments (unless its seq was seen), then answers the values of the
   * increments' keys followed by those of `reads`, as they are after the batch.
   */
  apply(batch: QuotaBatch): Promise<number[]>;
  /** Counter values (0 when absent). */
  read(keys: readonly string[]): Promise<number[]>;
  /** True when the counters live in this process: calls cannot time out, nothing to guard. */
  readonly local: boolean;
  close(): Promise<void>;
}

/** How long a writer's sequence key outlives its last batch (ms). */
export const OWNER_TTL_MS = 24 * 3_600_000;

/**
 * The sequence key of one writer (a gateway process, `instance`) for the application whose counter
 * keys carry `tag` (`{service:app}`, see `appTag`): it shares their hash tag.
 */
export function batchOwnerKey(tag: string, instance: string): string {
  return `q:${tag}:${instance}`;
}

/** The hash tag (`{service:app}`) of a counter key `c:{service:app}:…`, or null when it has none. */
export function tagOfCounterKey(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open);
  return close < 0 ? null : key.slice(open, close + 1);
}
