// The gateway's Prometheus series as a scrape prints them: request histograms by service and status with
// cumulative buckets, store latency, auth-cache ratio (only when a cache reports counts), config state.
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { createRegistry } from '../../src/obs/metrics.js';

const line = (text: string, name: string, ...labels: string[]) =>
  text
    .split('\n')
    .filter(
      (l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((x) => l.includes(x)),
    )
    .map((l) => Number(l.split(' ').pop()));

describe('gateway metrics', () => {
  it('prints request histograms by service and status, cumulative, with sum and count', async () => {
    const registry = createRegistry();
    const m = new GatewayMetrics(registry);
    m.observe('s1', 200, 2, 1.5); // 2 ms total, 1.5 ms upstream
    m.observe('s1', 200, 30, 20);
    m.observe('s1', 429, 0.5);
    m.observe('s2', 503, 7);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE tollgate_gateway_request_duration_seconds histogram');
    expect(text).toContain('# TYPE tollgate_gateway_requests_total counter');
    expect(line(text, 'tollgate_gateway_requests_total', 'service="s1"', 'status="200"')).toEqual([2]);
    expect(line(text, 'tollgate_gateway_requests_total', 'service="s1"', 'status="429"')).toEqual([1]);
    expect(line(text, 'tollgate_gateway_requests_total', 'service="s2"', 'status="503"')).toEqual([1]);
    const b = (le: string) =>
      line(
        text,
        'tollgate_gateway_request_duration_seconds_bucket',
        'service="s1"',
        'status="200"',
        `le="${le}"`,
      );
    expect([b('0.001'), b('0.0025'), b('0.025'), b('0.05'), b('+Inf')]).toEqual([[0], [1], [1], [2], [2]]);
    expect(
      line(text, 'tollgate_gateway_request_duration_seconds_sum', 'service="s1"', 'status="200"')[0],
    ).toBeCloseTo(0.032);
    expect(line(text, 'tollgate_gateway_upstream_duration_seconds_count', 'service="s1"')).toEqual([2]);
    expect(line(text, 'tollgate_gateway_upstream_duration_seconds_count', 'service="s2"')).toEqual([0]);
    expect(text).toMatch(/tollgate_gateway_requests_total\{[^}]*app="tollgate"/);
  });

  it('prints store latency and failures, auth-cache counts when there are some, and the config state', async () => {
    const registry = createRegistry();
    const m = new GatewayMetrics(registry, { clock: () => 10_000 });
    m.observeStore(0.0003, true);
    m.observeStore(0.05, false);
    let cache: { hits: number; misses: number } | undefined;
    m.trackAuthCache(() => cache);
    m.trackConfig({
      source: 'control_plane',
      version: 't1:3',
      loadedAt: 7_000,
      services: 4,
      reloads: 2,
      failures: 1,
      sourceUp: false,
    });
    let text = await registry.metrics();
    expect(line(text, 'tollgate_gateway_store_duration_seconds_count', 'result="ok"')).toEqual([1]);
    expect(
      line(text, 'tollgate_gateway_store_duration_seconds_bucket', 'result="ok"', 'le="0.0005"'),
    ).toEqual([1]);
    expect(line(text, 'tollgate_gateway_store_failures_total')).toEqual([1]);
    expect(line(text, 'tollgate_gateway_auth_cache_hit_ratio')).toEqual([]);
    cache = { hits: 3, misses: 1 };
    text = await registry.metrics();
    expect(line(text, 'tollgate_gateway_auth_cache_hits_total')).toEqual([3]);
    expect(line(text, 'tollgate_gateway_auth_cache_misses_total')).toEqual([1]);
    expect(line(text, 'tollgate_gateway_auth_cache_hit_ratio')).toEqual([0.75]);
    expect(line(text, 'tollgate_gateway_config_age_seconds')).toEqual([3]);
    expect(line(text, 'tollgate_gateway_config_services')).toEqual([4]);
    expect(line(text, 'tollgate_gateway_config_reloads_total')).toEqual([2]);
    expect(line(text, 'tollgate_gateway_config_reload_failures_total')).toEqual([1]);
    expect(line(text, 'tollgate_gateway_config_source_up')).toEqual([0]);
    expect(line(text, 'tollgate_gateway_config_info', 'source="control_plane"')).toEqual([1]);
  });
});
