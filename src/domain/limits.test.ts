import { describe, expect, it } from 'vitest';
import { treeService } from '../../test/support/domain-fixtures.js';
import { compileService } from './compiled-service.js';
import { counterKey } from './counters.js';
import {
  authrepPlan,
  CounterPlanBuilder,
  limitChecks,
  limitHeaders,
  limitsAllow,
  planLimits,
  usageReports,
} from './limits.js';
import type { PlanView } from './model.js';
import type { ProcessedUsage } from './usage.js';

const svc = treeService;

const c = compileService(svc);
const NOW = Date.UTC(2010, 4, 15, 22, 59, 59);
const plan: PlanView = {
  id: 'p',
  serviceId: 's1',
  name: 'P',
  limits: [
    { metricId: 'h', period: 'minute', max: 10 },
    { metricId: 'h', period: 'day', max: 100 },
    { metricId: 'gone', period: 'day', max: 1 },
    { metricId: 'l', period: 'month', max: 0 },
    { metricId: 'h', period: 'day', max: 5 },
  ],
};
const u = (e: Record<string, [number, boolean]>): ProcessedUsage =>
  new Map(Object.entries(e).map(([k, [value, set]]) => [k, { value, set }]));

describe('planLimits', () => {
  it('skips dangling metrics and duplicates, longest period first per metric, cached', () => {
    const rows = planLimits(plan, c);
    expect(rows.map((r) => `${r.metricName}/${r.period}/${r.max}`)).toEqual([
      'hits/day/100',
      'hits/minute/10',
      'list/month/0',
    ]);
    expect(planLimits(plan, c)).toBe(rows);
    expect(planLimits(null, c)).toEqual([]);
  });
});

describe('limit decision', () => {
  const rows = planLimits(plan, c);
  it('no usage: every limit stored <= max (stored == max passes; a 0-limit does not block)', () => {
    expect(limitsAllow(rows, [100, 10, 0], null)).toBe(true);
    expect(limitsAllow(rows, [101, 0, 0], null)).toBe(false);
  });
  it('usage: only its metrics; increments add, sets replace', () => {
    expect(limitsAllow(rows, [95, 9, 0], u({ h: [1, false] }))).toBe(true);
    expect(limitsAllow(rows, [95, 10, 0], u({ h: [1, false] }))).toBe(false);
    expect(limitsAllow(rows, [500, 500, 0], u({ h: [3, true] }))).toBe(true);
    expect(limitsAllow(rows, [0, 0, 0], u({ l: [1, false] }))).toBe(false);
    expect(limitsAllow(rows, [500, 500, 0], u({}))).toBe(true);
    expect(limitChecks(rows, u({ h: [2, false] }))).toEqual([
      { key: 0, max: 100, value: 2, set: false },
      { key: 1, max: 10, value: 2, set: false },
    ]);
  });
});

describe('usage reports and limit headers', () => {
  const rows = planLimits(plan, c);
  it('current = stored (+ applied usage); exceeded looks at stored only; windows', () => {
    const r = usageReports(rows, [101, 3, 0], u({ h: [2, false] }), NOW);
    expect(r.map((x) => [x.current, x.exceeded])).toEqual([
      [103, true],
      [5, false],
      [0, false],
    ]);
    expect(r[1]!.start).toBe(Date.UTC(2010, 4, 15, 22, 59));
    expect(r[1]!.end).toBe(Date.UTC(2010, 4, 15, 23, 0));
    expect(usageReports(rows, [1, 1, 0], u({ h: [7, true] }), NOW)[0]!.current).toBe(7);
  });

  it('hour 10 at 22:59:59 with usage 11 → remaining 0, reset 1, max 10', () => {
    const hourPlan: PlanView = { ...plan, id: 'h10', limits: [{ metricId: 'h', period: 'hour', max: 10 }] };
    const hr = planLimits(hourPlan, c);
    const usage = u({ h: [11, false] });
    expect(limitHeaders(usageReports(hr, [0], null, NOW), usage, c, NOW)).toEqual({
      remaining: 0,
      reset: 1,
      max: 10,
    });
  });

  it('picks the fewest calls; ties to the longer period; -1 when nothing limits', () => {
    const reports = usageReports(rows, [40, 2, 0], null, NOW);
    // day: 60 left / 2 = 30; minute: 8 left / 2 = 4
    expect(limitHeaders(reports, u({ h: [2, false] }), c, NOW)).toEqual({ remaining: 4, reset: 1, max: 10 });
    // usage on a child: its ancestors' reports are candidates
    expect(limitHeaders(reports, u({ g: [2, false] }), c, NOW)).toEqual({
      remaining: -1,
      reset: -1,
      max: null,
    });
    // without usage every report counts: the exhausted 0-limit on `list` gives remaining 0 until month end
    expect(limitHeaders(reports, null, c, NOW)).toEqual({
      remaining: 0,
      reset: 16 * 86_400 + 3600 + 1,
      max: 0,
    });
    const tie = usageReports(rows, [90, 0, 0], null, NOW);
    expect(limitHeaders(tie, u({ h: [10, false] }), c, NOW)).toEqual({ remaining: 1, reset: 3601, max: 100 });
  });
});

describe('CounterPlanBuilder', () => {
  it('limit keys first, writes for all 7 periods, merged per key', () => {
    const rows = planLimits(plan, c);
    const b = new CounterPlanBuilder('s1', 'a1');
    b.addLimits(rows, u({ h: [1, false] }), NOW);
    b.addUsage(u({ h: [1, false] }), NOW, c.counted);
    b.addUsage(u({ h: [2, false] }), NOW, c.counted);
    const p = b.build({ key: 'd', expireAt: 9 });
    expect(p.keys[0]).toBe(counterKey('s1', 'a1', 'h', 'day', Date.UTC(2010, 4, 15)));
    expect(p.keys).toHaveLength(3 + 5); // 3 limit keys, 5 more periods of h (day and minute shared)
    expect(p.writes).toHaveLength(7);
    expect(p.writes.every((w) => w.value === 3 && !w.set)).toBe(true);
    expect(p.checks).toHaveLength(2);
    expect(p.dedupe).toEqual({ key: 'd', expireAt: 9 });
    const s = new CounterPlanBuilder('s1', 'a1');
    s.addUsage(u({ h: [5, true] }), NOW, c.counted);
    s.addUsage(u({ h: [2, false] }), NOW, c.counted);
    expect(s.build().writes[0]).toMatchObject({ value: 7, set: true });
  });

  it('writes only the periods the service counts for a metric', () => {
    const counting = compileService({ ...svc, countedPeriods: { h: ['day', 'minute'], l: [] } });
    const b = new CounterPlanBuilder('s1', 'a1');
    b.addUsage(u({ h: [2, false], l: [1, false] }), NOW, counting.counted);
    const p = b.build();
    expect(p.keys).toEqual([
      counterKey('s1', 'a1', 'h', 'minute', Date.UTC(2010, 4, 15, 22, 59)),
      counterKey('s1', 'a1', 'h', 'day', Date.UTC(2010, 4, 15)),
    ]);
    expect(p.writes.map((w) => w.value)).toEqual([2, 2]);
  });
});

describe('authrepPlan', () => {
  const rows = planLimits(plan, c);
  const built = (usage: ProcessedUsage, appId: string, now: number) => {
    const b = new CounterPlanBuilder('s1', appId);
    b.addLimits(rows, usage, now);
    b.addUsage(usage, now, c.counted);
    return b.build();
  };

  it('a shared usage gets one plan per application and minute, equal to a freshly built one', () => {
    const usage = u({ h: [1, false] });
    const first = authrepPlan('s1', 'a1', rows, usage, usage, c.counted, NOW, true);
    expect(first).toEqual(built(usage, 'a1', NOW));
    // Same minute (22:59:00–22:59:59.999): the same object, not a rebuilt one.
    expect(authrepPlan('s1', 'a1', rows, usage, usage, c.counted, NOW - 59_000, true)).toBe(first);
    // Another application: its own plan, with its own keys.
    const other = authrepPlan('s1', 'a2', rows, usage, usage, c.counted, NOW, true);
    expect(other).not.toBe(first);
    expect(other).toEqual(built(usage, 'a2', NOW));
    expect(authrepPlan('s1', 'a1', rows, usage, usage, c.counted, NOW, true)).toBe(first);
  });

  it('a new minute, new limit rows or an unshared usage build a new plan', () => {
    const usage = u({ h: [2, false] });
    const first = authrepPlan('s1', 'a1', rows, usage, usage, c.counted, NOW, true);
    const next = authrepPlan('s1', 'a1', rows, usage, usage, c.counted, NOW + 1000, true); // 23:00:00
    expect(next).not.toBe(first);
    expect(next).toEqual(built(usage, 'a1', NOW + 1000));
    expect(next.keys).toContain(counterKey('s1', 'a1', 'h', 'minute', Date.UTC(2010, 4, 15, 23, 0)));
    expect(first.keys).not.toContain(counterKey('s1', 'a1', 'h', 'minute', Date.UTC(2010, 4, 15, 23, 0)));
    // A config change brings new plan rows: the cached plan is not reused for them.
    const changed = planLimits({ ...plan, limits: [{ metricId: 'h', period: 'minute', max: 3 }] }, c);
    const p = authrepPlan('s1', 'a1', changed, usage, usage, c.counted, NOW + 1000, true);
    expect(p.checks.map((x) => x.max)).toEqual([3]);
    const unshared = authrepPlan('s1', 'a1', rows, usage, usage, c.counted, NOW + 1000, false);
    expect(unshared).not.toBe(next);
    expect(unshared).toEqual(next);
  });

  it('no counted usage: the limit checks only', () => {
    const usage = u({ h: [0, false] });
    const p = authrepPlan('s1', 'a1', rows, usage, null, c.counted, NOW, true);
    expect(p.writes).toHaveLength(0);
    expect(p.checks).toHaveLength(2);
  });
});
