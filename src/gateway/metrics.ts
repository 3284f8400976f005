/**
 * The gateway's Prometheus metrics: requests and latency by service and status, upstream latency, store
 * latency and failures, auth-cache hit ratio, usage queue depth and drops, config version, age and reloads.
 *
 * The request path only bumps numbers in arrays (no label hashing, no allocation once a series exists);
 * the Prometheus text is built when `/metrics` is scraped. Other parts' state (usage queue, config feed,
 * auth cache) is read at scrape time from the stats objects they expose.
 */
import { createHash } from 'node:crypto';
import type { Registry } from 'prom-client';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Store calls are expected to take well under a millisecond: finer buckets at the low end. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

type Labels = Record<string, string | number>;
interface Sample {
  readonly metricName?: string;
  readonly labels: Labels;
  readonly value: number;
}
interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: Sample[];
  readonly aggregator: 'sum';
}

/** A metric prom-client's Registry can print: it only calls `get()` (and `reset()` on resetMetrics). */
abstract class Collected {
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  async get(): Promise<MetricData> {
    return { name: this.name, help: this.help, type: this.type, values: this.samples(), aggregator: 'sum' };
  }
  reset(): void {}
  protected abstract samples(): Sample[];
}

/** One histogram series: per-bucket counts (not cumulative), sum and count. */
class Series {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** A histogram whose series are held by the caller (looked up without building label keys). */
class Histogram extends Collected {
  readonly series: Series[] = [];
  constructor(
    name: string,
    help: string,
    readonly bounds: readonly number[],
  ) {
    super(name, help, 'histogram');
  }
  add(labels: Labels): Series {
    const s = new Series(labels, this.bounds);
    this.series.push(s);
    return s;
  }
  protected samples(): Sample[] {
    const out: Sample[] = [];
    for (const s of this.series) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        out.push({
          metricName: `${this.name}_bucket`,
          labels: { ...s.labels, le: this.bounds[i]! },
          value: acc,
        });
      }
      out.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      out.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      out.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return out;
  }
}

/** A counter or gauge whose samples are read at scrape time. */
class Read extends Collected {
  constructor(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    private readonly read: () => readonly Sample[],
  ) {
    super(name, help, type);
  }
  protected samples(): Sample[] {
    return [...this.read()];
  }
}

/** What the usage queue exposes (see usage.ts). */
export interface UsageQueueStats {
  /** Events waiting to be written (queued and in the batch being written). */
  readonly depth: number;
  /** Events dropped because the queue was full. */
  readonly dropped: number;
  /** Events written to the usage log. */
  readonly written: number;
  /** Failed writes (each retried). */
  readonly failures: number;
}

/** What the config feed exposes (see loader.ts). */
export interface ConfigFeedStats {
  /** `sql` (in process) or `control_plane` (over HTTP). */
  readonly source: string;
  /** The version served, or null before the first config. */
  readonly version: string | null;
  /** Epoch ms the served config was installed (0 before the first). */
  readonly loadedAt: number;
  /** Services in the served config. */
  readonly services: number;
  readonly reloads: number;
  /** Snapshots that could not be fetched or compiled (the last good config stayed). */
  readonly failures: number;
  /** False while the source cannot be reached. */
  readonly sourceUp: boolean;
}

/** Hit and miss counts of an auth cache (e.g. CachedAuthView's `stats`). */
export interface AuthCacheStats {
  readonly hits: number;
  readonly misses: number;
}

interface ServiceSeries {
  /** Indexed by HTTP status. */
  readonly byStatus: (Series | undefined)[];
  readonly upstream: Series;
}

export class GatewayMetrics {
  private readonly registry: Registry;
  private readonly duration: Histogram;
  private readonly upstream: Histogram;
  private readonly services = new Map<string, ServiceSeries>();
  private readonly storeOk: Series;
  private readonly storeFailed: Series;
  private readonly clock: () => number;

  constructor(registry: Registry, opts: { clock?: () => number } = {}) {
    this.registry = registry;
    this.clock = opts.clock ?? Date.now;
    this.duration = new Histogram(
      'tollgate_gateway_request_duration_seconds',
      'Time from the request reaching the gateway to the end of its answer, by service and HTTP status',
      BUCKETS,
    );
    this.upstream = new Histogram(
      'tollgate_gateway_upstream_duration_seconds',
      'Time the upstream took, from dispatch to its last byte',
      BUCKETS,
    );
    const requests = new Read(
      'tollgate_gateway_requests_total',
      'Requests answered by the gateway, by service and HTTP status',
      'counter',
      () => this.duration.series.map((s) => ({ labels: s.labels, value: s.count })),
    );
    const store = new Histogram(
      'tollgate_gateway_store_duration_seconds',
      'Time of one call to the counter store (or remote backend) on behalf of a request, by result',
      STORE_BUCKETS,
    );
    this.storeOk = store.add({ result: 'ok' });
    this.storeFailed = store.add({ result: 'error' });
    const storeFailures = new Read(
      'tollgate_gateway_store_failures_total',
      'Calls to the counter store that failed or timed out',
      'counter',
      () => [{ labels: {}, value: this.storeFailed.count }],
    );
    for (const m of [requests, this.duration, this.upstream, store, storeFailures])
      registry.registerMetric(m as never);
  }

  /** One answered request; `upstreamMs` when it reached the upstream. Called on the request path. */
  observe(service: string, status: number, totalMs: number, upstreamMs?: number): void {
    let s = this.services.get(service);
    if (s === undefined) {
      s = { byStatus: [], upstream: this.upstream.add({ service }) };
      this.services.set(service, s);
    }
    const code = status >= 100 && status < 1000 ? status | 0 : 0;
    let h = s.byStatus[code];
    if (h === undefined) {
      h = this.duration.add({ service, status: code });
      s.byStatus[code] = h;
    }
    h.observe(totalMs / 1000);
    if (upstreamMs !== undefined) s.upstream.observe(upstreamMs / 1000);
  }

  /** One call to the counter store (or a remote backend): how long it took and whether it worked. */
  readonly observeStore = (seconds: number, ok: boolean): void => {
    (ok ? this.storeOk : this.storeFailed).observe(seconds);
  };

  /** Exports the usage queue's depth, drops, writes and failed writes. */
  trackUsageQueue(stats: UsageQueueStats): void {
    const one = (read: () => number) => () => [{ labels: {}, value: read() }];
    this.register(
      new Read(
        'tollgate_gateway_usage_queue_depth',
        'Usage events waiting to be written to the usage log',
        'gauge',
        one(() => stats.depth),
      ),
      new Read(
        'tollgate_gateway_usage_events_dropped_total',
        'Usage events dropped because the queue was full',
        'counter',
        one(() => stats.dropped),
      ),
      new Read(
        'tollgate_gateway_usage_events_written_total',
        'Usage events written to the usage log',
        'counter',
        one(() => stats.written),
      ),
      new Read(
        'tollgate_gateway_usage_write_failures_total',
        'Writes of usage event batches that failed (the batch is kept and retried)',
        'counter',
        one(() => stats.failures),
      ),
    );
  }

  /** Exports the config feed's version, age, size, reloads and failures. */
  trackConfig(stats: ConfigFeedStats): void {
    let digestOf = '';
    let digest = '';
    const one = (read: () => number) => () => [{ labels: {}, value: read() }];
    this.register(
      new Read(
        'tollgate_gateway_config_info',
        'The config served: a short digest of its version and where it came from',
        'gauge',
        () => {
          if (stats.version === null) return [];
          if (digestOf !== stats.version) {
            digestOf = stats.version;
            digest = createHash('sha256').update(stats.version).digest('hex').slice(0, 12);
          }
          return [{ labels: { version: digest, source: stats.source }, value: 1 }];
        },
      ),
      new Read(
        'tollgate_gateway_config_loaded_timestamp_seconds',
        'When the config served was installed (Unix time)',
        'gauge',
        () => (stats.loadedAt === 0 ? [] : [{ labels: {}, value: stats.loadedAt / 1000 }]),
      ),
      new Read(
        'tollgate_gateway_config_age_seconds',
        'Seconds since the config served was installed',
        'gauge',
        () => (stats.loadedAt === 0 ? [] : [{ labels: {}, value: (this.clock() - stats.loadedAt) / 1000 }]),
      ),
      new Read(
        'tollgate_gateway_config_services',
        'Services in the config served',
        'gauge',
        one(() => stats.services),
      ),
      new Read(
        'tollgate_gateway_config_reloads_total',
        'New config versions installed',
        'counter',
        one(() => stats.reloads),
      ),
      new Read(
        'tollgate_gateway_config_reload_failures_total',
        'Config snapshots that could not be fetched or compiled (the last good config stayed)',
        'counter',
        one(() => stats.failures),
      ),
      new Read(
        'tollgate_gateway_config_source_up',
        '1 while the config source (SQL or the control plane) answers, 0 while it cannot be reached',
        'gauge',
        one(() => (stats.sourceUp ? 1 : 0)),
      ),
    );
  }

  /** Exports the store circuit breaker's state: 1 for the current one of `closed`, `open`, `half_open`. */
  trackBreaker(read: () => string): void {
    this.register(
      new Read(
        'tollgate_gateway_store_breaker_state',
        'The counter-store circuit breaker: 1 for its current state (open = store calls refused at once)',
        'gauge',
        () => {
          const now = read();
          return ['closed', 'open', 'half_open'].map((state) => ({
            labels: { state },
            value: now === state ? 1 : 0,
          }));
        },
      ),
    );
  }

  /**
   * Exports an auth cache's hits, misses and hit ratio. `read` is called at scrape time; it may answer
   * undefined (no cache in this deployment: nothing is exported).
   */
  trackAuthCache(read: () => AuthCacheStats | undefined): void {
    this.register(
      new Read(
        'tollgate_gateway_auth_cache_hits_total',
        'Auth view lookups answered by the cache',
        'counter',
        () => {
          const s = read();
          return s === undefined ? [] : [{ labels: {}, value: s.hits }];
        },
      ),
      new Read(
        'tollgate_gateway_auth_cache_misses_total',
        'Auth view lookups that went to the store',
        'counter',
        () => {
          const s = read();
          return s === undefined ? [] : [{ labels: {}, value: s.misses }];
        },
      ),
      new Read(
        'tollgate_gateway_auth_cache_hit_ratio',
        'Share of auth view lookups answered by the cache since start',
        'gauge',
        () => {
          const s = read();
          if (s === undefined) return [];
          const total = s.hits + s.misses;
          return [{ labels: {}, value: total === 0 ? 0 : s.hits / total }];
        },
      ),
    );
  }

  private register(...metrics: Collected[]): void {
    for (const m of metrics) this.registry.registerMetric(m as never);
  }
}
