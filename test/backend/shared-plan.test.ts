/**
 * The authorization core with a shared (frozen) usage map, as the gateway calls it: the counter plan is
 * reused per application within a minute (domain/limits.ts `authrepPlan`), and a caller that reads no
 * status body (`bodyUnused`) gets no usage reports unless limit headers need them. Counting and limits
 * must be exactly those of a call that builds everything afresh.
 */
import { describe, expect, it } from 'vitest';
import { type AuthInput, type AuthOutcome, authorize, NO_EXTENSIONS } from '../../src/backend/authorize.js';
import type { BackendDeps } from '../../src/backend/deps.js';
import { emptyParams, type ParamMap } from '../../src/backend/params.js';
import { MemoryAuthView } from '../../src/store/authview/memory.js';
import { MemoryCounterStore } from '../../src/store/counters/memory.js';
import { MemoryUsageLog } from '../../src/store/usagelog/memory.js';
import { acmeSnapshot, T0 } from './support/fixture.js';
import { TestErrorLog } from './support/memory-error-log.js';

async function core(): Promise<{ deps: BackendDeps; at: (t: number) => void }> {
  const authView = new MemoryAuthView();
  await authView.syncTenant(acmeSnapshot());
  let now = T0;
  const counters = await MemoryCounterStore.open({ clock: () => now });
  const deps: BackendDeps = {
    authView,
    counters,
    usageLog: new MemoryUsageLog(),
    errorLog: new TestErrorLog(),
    clock: () => now,
    version: 'test',
  };
  return { deps, at: (t) => (now = t) };
}

function params(usage: ParamMap): ParamMap {
  const p = emptyParams();
  p.provider_key = 'pk1';
  p.service_id = 'svc-uk';
  p.user_key = 'uk1'; // plan p-basic: get ≤ 5 a minute, hits ≤ 100 a day
  p.usage = usage;
  return p;
}

async function call(deps: BackendDeps, input: AuthInput): Promise<AuthOutcome & { kind: 'status' }> {
  const o = await authorize(deps, input);
  if (o.kind !== 'status') throw new Error(`unexpected outcome ${o.kind}`);
  return o;
}

describe('authrep with a shared usage map', () => {
  it('counts every call and enforces the minute limit exactly, across a minute change', async () => {
    const { deps, at } = await core();
    const usage = Object.freeze({ get: '1' }) as unknown as ParamMap;
    const input: AuthInput = {
      endpoint: 'authrep',
      params: params(usage),
      invalidUtf8: false,
      ext: NO_EXTENSIONS,
    };
    const seen: (string | null)[] = [];
    for (let i = 0; i < 6; i++) seen.push((await call(deps, input)).denyCode);
    expect(seen).toEqual([null, null, null, null, null, 'limits_exceeded']);
    // The reports of an allowed call show the counts of the calls before it plus its own.
    at(T0 + 60_000); // the next minute: a new window, a new plan
    const next = await call(deps, input);
    expect(next.authorized).toBe(true);
    const get = next.body.reports.find((r) => r.metricName === 'get' && r.period === 'minute');
    const hitsDay = next.body.reports.find((r) => r.metricName === 'hits' && r.period === 'day');
    expect(get?.current).toBe(1);
    expect(hitsDay?.current).toBe(6);
  });

  it('builds usage reports only when the body or limit headers need them', async () => {
    const { deps } = await core();
    const usage = Object.freeze({ hits: '1' }) as unknown as ParamMap;
    const p = params(usage);
    const full = await call(deps, { endpoint: 'authrep', params: p, invalidUtf8: false, ext: NO_EXTENSIONS });
    expect(full.body.reports.length).toBe(5);
    const ext = { ...NO_EXTENSIONS, bodyUnused: true };
    const bare = await call(deps, { endpoint: 'authrep', params: p, invalidUtf8: false, ext });
    expect(bare.authorized).toBe(true);
    expect(bare.body.reports).toEqual([]);
    expect(bare.event?.usage).toEqual({ 'm-hits': 1 }); // events name metrics by id
    const withHeaders = await call(deps, {
      endpoint: 'authrep',
      params: p,
      invalidUtf8: false,
      ext: { ...ext, limitHeaders: true },
    });
    expect(withHeaders.body.reports.length).toBe(5);
    // hits/day 100 with 3 calls counted (this one included): 97 more.
    expect(withHeaders.limitHeaders).toMatchObject({ max: 100, remaining: 97 });
  });
});
