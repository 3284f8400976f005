// The gateway's usage queue over the in-process usage log, with an outage switch in front of it: batches
// are written off the request path, kept and retried while the log is down (nothing lost), and dropped —
// counted — only past the queue's bound.
import { describe, expect, it } from 'vitest';
import type { IdentifiedUsageEvent, UsageEventPayload } from '../../src/backend/events.js';
import { decodeUsageRecord } from '../../src/backend/usage-columns.js';
import { UsageQueue as GatewayUsageQueue } from '../../src/backend/usage-queue.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import type { ForwardOutcome } from '../../src/gateway/proxy.js';
import { createRegistry } from '../../src/obs/metrics.js';
import type { LogRecord, UsageLog, UsageStream } from '../../src/store/ports.js';
import { MemoryUsageLog } from '../../src/store/usagelog/memory.js';

/** The in-process log, made unreachable while `down` (as a stopped Redis would be). */
class Switched extends MemoryUsageLog implements UsageLog {
  down = false;
  appends = 0;
  override async append(stream: UsageStream, records: readonly LogRecord[]): Promise<void> {
    await new Promise((r) => setTimeout(r, 1));
    if (this.down) throw new Error('connection refused');
    this.appends++;
    return super.append(stream, records);
  }
}

const event = (i: number): UsageEventPayload => ({
  type: 'usage',
  source: 'authrep',
  serviceId: 's1',
  appId: `app${i % 3}`,
  timestamp: 1_700_000_000_000 + i,
  usage: { hits: 1 },
});
const outcome: ForwardOutcome = { status: 200, upstreamMs: 2.5, bytesIn: 10, bytesOut: 42 };

async function written(log: UsageLog): Promise<IdentifiedUsageEvent[]> {
  const out: IdentifiedUsageEvent[] = [];
  for (;;) {
    const got = await log.read('events', 'test', 'c', 1000, 0);
    if (got.length === 0) return out;
    for (const d of got) out.push(...decodeUsageRecord(d.record));
    await log.ack(
      'events',
      'test',
      got.map((d) => d.seq),
    );
  }
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('gateway usage queue', () => {
  it('writes every event once, in batches, with the exchange outcome', async () => {
    const log = new Switched();
    const q = new GatewayUsageQueue(log, { flushMs: 20, maxBatch: 100 });
    for (let i = 0; i < 1050; i++) q.record(event(i), outcome, 7);
    await until('all written', () => q.written === 1050);
    expect(q.depth).toBe(0);
    const events = await written(log);
    expect(events).toHaveLength(1050);
    expect(new Set(events.map((e) => e.id)).size).toBe(1050);
    expect(log.appends).toBeLessThan(20);
    expect(events[0]).toMatchObject({
      source: 'gateway',
      serviceId: 's1',
      status: 200,
      latencyMs: 7,
      upstreamMs: 2.5,
      bytesIn: 10,
      bytesOut: 42,
      usage: { hits: 1 },
    });
    await q.close();
  });

  it('writes each batch in columns that decode back to the events recorded, in order', async () => {
    const log = new Switched();
    const q = new GatewayUsageQueue(log, { flushMs: 5, maxBatch: 1000 });
    const many: UsageEventPayload = {
      ...event(1),
      serviceId: 's2',
      usage: { hits: 3, get_item: 1, bytes: 512 },
    };
    q.record(event(0), outcome, 1.25);
    q.record(many, { ...outcome, status: 429, bytesOut: 0 }, 0.5);
    q.record(event(2), outcome, 3);
    await q.flush();
    const got = await written(log);
    expect(got.map((e) => [e.serviceId, e.appId, e.status, e.latencyMs, e.usage])).toEqual([
      ['s1', 'app0', 200, 1.25, { hits: 1 }],
      ['s2', 'app1', 429, 0.5, { hits: 3, get_item: 1, bytes: 512 }],
      ['s1', 'app2', 200, 3, { hits: 1 }],
    ]);
    const ids = got.map((e) => e.id);
    expect(ids[1]).toBe(ids[0]!.replace(/:0$/, ':1'));
    await q.close();
  });

  it('keeps what it could not write while the log is down and delivers it when it returns', async () => {
    const log = new Switched();
    const q = new GatewayUsageQueue(log, { flushMs: 10, maxBatch: 50, retryMinMs: 10, retryMaxMs: 40 });
    for (let i = 0; i < 120; i++) q.record(event(i), outcome, 1);
    await until('first batches', () => q.written === 120);
    log.down = true;
    for (let i = 120; i < 400; i++) q.record(event(i), outcome, 1);
    await until('failures seen', () => q.failures >= 3);
    expect(q.depth).toBe(280);
    expect(q.dropped).toBe(0);
    log.down = false;
    await until('backlog written', () => q.depth === 0);
    const events = await written(log);
    expect(events).toHaveLength(400);
    expect(new Set(events.map((e) => e.timestamp)).size).toBe(400);
    await q.close();
  });

  it('drops (and counts) only past its bound; depth and drops are metrics', async () => {
    const log = new Switched();
    log.down = true;
    const q = new GatewayUsageQueue(log, { flushMs: 10, maxBatch: 100, maxQueue: 500, retryMinMs: 10 });
    const registry = createRegistry();
    new GatewayMetrics(registry).trackUsageQueue(q);
    for (let i = 0; i < 700; i++) q.record(event(i), outcome, 1);
    expect(q.depth).toBe(500);
    expect(q.dropped).toBe(200);
    const text = await registry.metrics();
    expect(text).toMatch(/^tollgate_gateway_usage_queue_depth\{[^}]*\} 500$/m);
    expect(text).toMatch(/^tollgate_gateway_usage_events_dropped_total\{[^}]*\} 200$/m);
    log.down = false;
    await until('backlog written', () => q.depth === 0);
    expect(await written(log)).toHaveLength(500);
    // A flush at shutdown with the log down gives up after its timeout instead of hanging.
    log.down = true;
    q.record(event(1), outcome, 1);
    const t = Date.now();
    await q.close(200);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(q.depth).toBe(1);
  });
});
