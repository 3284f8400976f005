// Usage events in columns: what goes in comes back out, for every kind of event the log carries.
import { describe, expect, it } from 'vitest';
import type { UsageEventPayload } from '../../src/backend/events.js';
import { decodeUsageRecord, UsageColumnsBuilder } from '../../src/backend/usage-columns.js';

describe('usage columns', () => {
  it('round-trips authrep, report and gateway events: increments, sets, codes, outcomes', () => {
    const b = new UsageColumnsBuilder();
    const authrep: UsageEventPayload = {
      type: 'usage',
      source: 'authrep',
      serviceId: 's1',
      appId: 'a1',
      timestamp: 1_700_000_000_123,
      usage: { hits: 2, get: 1 },
      set: { storage: 40 },
      responseCode: '201',
    };
    const report: UsageEventPayload = {
      ...authrep,
      source: 'report',
      appId: 'a2',
      usage: {},
      set: undefined,
    };
    delete (report as { set?: unknown }).set;
    const gw: UsageEventPayload = {
      type: 'usage',
      source: 'authrep',
      serviceId: 's2',
      appId: 'a1',
      timestamp: 5,
      usage: { hits: 1 },
    };
    b.add(authrep);
    b.add(report);
    b.add(gw, { status: 503, upstreamMs: 1.5, bytesIn: 0, bytesOut: 77 }, 2.25);
    expect(b.count).toBe(3);
    // Through JSON, as the log stores it.
    const payload: unknown = JSON.parse(JSON.stringify(b.payload()));
    const got = decodeUsageRecord({ id: 'R', payload });
    expect(got).toEqual([
      { ...authrep, id: 'R:0' },
      { ...report, id: 'R:1' },
      {
        type: 'usage',
        id: 'R:2',
        source: 'gateway',
        serviceId: 's2',
        appId: 'a1',
        timestamp: 5,
        usage: { hits: 1 },
        status: 503,
        latencyMs: 2.25,
        upstreamMs: 1.5,
        bytesIn: 0,
        bytesOut: 77,
      },
    ]);
  });

  it("reads the report worker's usage_batch records too, and nothing else", () => {
    const e = {
      type: 'usage',
      source: 'report',
      serviceId: 's',
      appId: 'a',
      timestamp: 1,
      usage: {},
      id: 'b:0',
    };
    expect(decodeUsageRecord({ id: 'x', payload: { type: 'usage_batch', events: [e] } })).toEqual([e]);
    expect(decodeUsageRecord({ id: 'x', payload: { type: 'report' } })).toEqual([]);
    expect(decodeUsageRecord({ id: 'x', payload: null })).toEqual([]);
  });
});
