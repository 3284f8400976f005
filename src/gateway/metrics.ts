/** The gateway's Prometheus metrics: requests and latency by service and status, upstream latency. */
import { Counter, Histogram, type Registry } from 'prom-client';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class GatewayMetrics {
  private readonly requests: Counter<'service' | 'status'>;
  private readonly duration: Histogram<'service'>;
  private readonly upstream: Histogram<'service'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'tollgate_gateway_requests_total',
      help: 'Requests answered by the gateway, by service and HTTP status',
      labelNames: ['service', 'status'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'tollgate_gateway_request_duration_seconds',
      help: 'Time from the request reaching the gateway to the end of its answer',
      labelNames: ['service'],
      buckets: BUCKETS,
      registers: [registry],
    });
    this.upstream = new Histogram({
      name: 'tollgate_gateway_upstream_duration_seconds',
      help: 'Time the upstream took, from dispatch to its last byte',
      labelNames: ['service'],
      buckets: BUCKETS,
      registers: [registry],
    });
  }

  /** One answered request; `upstreamMs` when it reached the upstream. */
  observe(service: string, status: number, totalMs: number, upstreamMs?: number): void {
    this.requests.inc({ service, status: String(status) });
    this.duration.observe({ service }, totalMs / 1000);
    if (upstreamMs !== undefined) this.upstream.observe({ service }, upstreamMs / 1000);
  }
}
