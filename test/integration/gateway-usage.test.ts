// Usage recording survives a Redis outage: a gateway on its own redis-server (usage log on Redis Streams)
// serves N calls, Redis stops mid-run, M more calls come in (the service says on_store_failure: allow),
// Redis comes back on the same port, and every accepted call's usage event is in the `events` stream —
// none lost — with its status, latencies and byte counts. /metrics shows the gateway's series.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentifiedUsageEvent } from '../../src/backend/events.js';
import { decodeUsageRecord } from '../../src/backend/usage-columns.js';
import { type Started, startTollgate } from '../support/proc.js';

const PREFIX = 'gwusage:';
const HOST = 'usage.gw.test';

function hasRedisServer(): boolean {
  try {
    return spawn('redis-server', ['--version']).pid !== undefined;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A redis-server of this test's own: no automatic persistence; `stop()` saves once so a restart keeps its data. */
class OwnRedis {
  private child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const c = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    c.on('error', () => undefined);
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        await c.connect();
        await c.ping();
        break;
      } catch {
        if (Date.now() > end) throw new Error('redis-server did not start');
        c.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    c.disconnect();
  }

  /** SHUTDOWN SAVE: the data is on disk for the restart, the port is closed at once. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    const c = new Redis({ port: this.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    c.on('error', () => undefined);
    await c.call('SHUTDOWN', 'SAVE').catch(() => undefined);
    c.disconnect();
    if (child.exitCode === null) await once(child, 'exit');
    this.child = null;
  }

  kill(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }
}

describe.skipIf(!hasRedisServer())('gateway usage recording through a Redis outage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-usage-'));
  let redis: OwnRedis;
  let upstream: http.Server;
  let p: Started;
  let gw = '';

  beforeAll(async () => {
    redis = new OwnRedis(await freePort(), dir);
    await redis.start();
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('twelve bytes');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    writeFileSync(
      join(dir, 'usage.yaml'),
      `version: 1
tenants:
  - name: usage
    provider_key: usage-provider-key
    services:
      - id: "9921"
        system_name: items
        upstream: http://127.0.0.1:${(upstream.address() as AddressInfo).port}
        hosts: [${HOST}]
        auth: { mode: user_key }
        authorization: { mode: strict, on_store_failure: allow }
        metrics:
          - { system_name: hits }
        mapping_rules:
          - { method: GET, pattern: "/", metric: hits, delta: 1 }
          - { method: POST, pattern: "/", metric: hits, delta: 1 }
        plans:
          - { system_name: basic, name: Basic, limits: { hits: { day: 1000000 } } }
    accounts:
      - name: Dev
        applications:
          - { name: App, service: items, plan: basic, user_key: usage-key }
`,
    );
    p = await startTollgate(
      [
        '--roles',
        'admin,gateway',
        '--data-dir',
        dir,
        '--config',
        join(dir, 'usage.yaml'),
        '--admin-port',
        '0',
        '--gateway-port',
        '0',
      ],
      { REDIS_URL: `redis://127.0.0.1:${redis.port}`, TOLLGATE_REDIS_PREFIX: PREFIX },
      ['admin', 'gateway'],
    );
    gw = `http://127.0.0.1:${p.ports.gateway}`;
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
    upstream?.close();
    redis?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (i: number) => {
    const post = i % 2 === 1;
    const res = await request(`${gw}/items/${i}?user_key=usage-key`, {
      method: post ? 'POST' : 'GET',
      headers: { host: HOST },
      ...(post ? { body: 'x'.repeat(100) } : {}),
    });
    await res.body.dump();
    return res.statusCode;
  };

  const metrics = async () => (await (await request(`${gw}/metrics`)).body.text()).split('\n');
  const value = (lines: string[], name: string, ...labels: string[]) =>
    lines
      .filter(
        (l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((x) => l.includes(x)),
      )
      .map((l) => Number(l.split(' ').pop()));

  it('delivers the event of every accepted call after Redis comes back, none lost', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push(await call(i));
    expect(statuses.every((s) => s === 200)).toBe(true);

    await redis.stop();
    const during: number[] = [];
    // Spread over a couple of seconds: the queue's writes fail and are retried meanwhile.
    for (let i = 40; i < 80; i++) {
      during.push(await call(i));
      await new Promise((r) => setTimeout(r, 50));
    }
    statuses.push(...during);
    // on_store_failure: allow — calls keep flowing while the store is away, and nothing crashes.
    expect(during.every((s) => s === 200 || s === 503)).toBe(true);
    expect(during.filter((s) => s === 200).length, `answers during the outage: ${during}`).toBe(40);
    const queued = value(await metrics(), 'tollgate_gateway_usage_queue_depth')[0] ?? 0;
    expect(queued).toBeGreaterThan(0);

    await redis.start();
    for (let i = 80; i < 90; i++) statuses.push(await call(i));
    const accepted = statuses.filter((s) => s === 200).length;

    const client = new Redis({ port: redis.port, host: '127.0.0.1', keyPrefix: PREFIX });
    const events = new Map<string, IdentifiedUsageEvent>();
    const end = Date.now() + 20_000;
    try {
      while (Date.now() < end) {
        events.clear();
        const entries = (await client.xrange('log:events', '-', '+')) as [string, string[]][];
        for (const [, fields] of entries) {
          const payload: unknown = JSON.parse(fields[fields.indexOf('p') + 1]!);
          const id = fields[fields.indexOf('i') + 1]!;
          // At least once: a batch retried after a write whose answer was lost may be there twice.
          for (const e of decodeUsageRecord({ id, payload })) events.set(e.id, e);
        }
        if (events.size >= accepted) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      client.disconnect();
    }
    expect(events.size).toBe(accepted);
    const all = [...events.values()];
    expect(all.every((e) => e.source === 'gateway' && e.serviceId === '9921' && e.status === 200)).toBe(true);
    expect(all.every((e) => typeof e.latencyMs === 'number' && typeof e.upstreamMs === 'number')).toBe(true);
    expect(all.every((e) => e.bytesOut === 12)).toBe(true);
    expect(all.filter((e) => e.bytesIn === 100)).toHaveLength(
      statuses.filter((s, i) => s === 200 && i % 2 === 1).length,
    );
    expect(all.every((e) => e.usage && Object.values(e.usage).includes(1))).toBe(true);

    const lines = await metrics();
    expect(value(lines, 'tollgate_gateway_usage_queue_depth')).toEqual([0]);
    expect(value(lines, 'tollgate_gateway_usage_events_dropped_total')).toEqual([0]);
    expect(value(lines, 'tollgate_gateway_usage_write_failures_total')[0]).toBeGreaterThan(0);
    expect(value(lines, 'tollgate_gateway_usage_events_written_total')[0]).toBeGreaterThanOrEqual(accepted);
  });

  it('exports request, latency, store and config series on /metrics', async () => {
    const lines = await metrics();
    const ok = value(lines, 'tollgate_gateway_requests_total', 'service="9921"', 'status="200"')[0] ?? 0;
    expect(ok).toBeGreaterThanOrEqual(80);
    expect(
      value(lines, 'tollgate_gateway_request_duration_seconds_count', 'service="9921"', 'status="200"'),
    ).toEqual([ok]);
    expect(
      value(
        lines,
        'tollgate_gateway_request_duration_seconds_bucket',
        'service="9921"',
        'status="200"',
        'le="+Inf"',
      ),
    ).toEqual([ok]);
    expect(value(lines, 'tollgate_gateway_upstream_duration_seconds_count', 'service="9921"')).toEqual([ok]);
    expect(
      value(lines, 'tollgate_gateway_upstream_duration_seconds_sum', 'service="9921"')[0],
    ).toBeGreaterThan(0);
    expect(value(lines, 'tollgate_gateway_config_services')).toEqual([1]);
    expect(value(lines, 'tollgate_gateway_config_source_up')).toEqual([1]);
    expect(value(lines, 'tollgate_gateway_config_age_seconds')[0]).toBeGreaterThanOrEqual(0);
    expect(value(lines, 'tollgate_gateway_config_reload_failures_total')).toEqual([0]);
    expect(
      lines.some((l) => /^tollgate_gateway_config_info\{.*version="[0-9a-f]{12}".*source="sql"/.test(l)),
    ).toBe(true);
    // Store calls: timed, and the outage's failures counted; the breaker's state is one of three.
    expect(value(lines, 'tollgate_gateway_store_duration_seconds_count', 'result="ok"')[0]).toBeGreaterThan(
      0,
    );
    expect(value(lines, 'tollgate_gateway_store_failures_total')[0]).toBeGreaterThan(0);
    const breaker = value(lines, 'tollgate_gateway_store_breaker_state');
    expect(breaker.sort()).toEqual([0, 0, 1]);
  });
});
