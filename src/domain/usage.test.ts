import { describe, expect, it } from 'vitest';
import { treeService } from '../../test/support/domain-fixtures.js';
import { compileService } from './compiled-service.js';
import { firstUnknownMetric, hasEffect, parseUsageValue, processUsage } from './usage.js';

const svc = treeService;

const c = compileService(svc);
const ok = (raw: Record<string, unknown>, flat = false) => {
  const r = processUsage(raw, c, flat);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return Object.fromEntries(r.usage);
};

describe('parseUsageValue', () => {
  it('accepts N and #N with ASCII spaces, refuses the rest', () => {
    expect(parseUsageValue('12')).toEqual({ value: 12, set: false });
    expect(parseUsageValue(' #3 ')).toEqual({ value: 3, set: true });
    expect(parseUsageValue('\t7\n')).toEqual({ value: 7, set: false });
    for (const bad of ['##3', '#', '-1', '-#55', 'tons!', '', '1.5', '\u00a01', '99999999999999999999']) {
      expect(parseUsageValue(bad)).toBeNull();
    }
    expect(parseUsageValue({ a: '1' })).toBeNull();
  });
});

describe('processUsage', () => {
  it('rolls increments up every ancestor, adding explicit parent values', () => {
    expect(ok({ get_detail: '2' })).toEqual({
      d: { value: 2, set: false },
      g: { value: 2, set: false },
      h: { value: 2, set: false },
    });
    expect(ok({ hits: '2', list: '5' }).h).toEqual({ value: 7, set: false });
    expect(ok({ list: '5', hits: '2' }).h).toEqual({ value: 7, set: false });
    expect(ok({ get: '1', get_detail: '1' })).toMatchObject({ g: { value: 2 }, h: { value: 2 } });
  });

  it('a set sets its ancestors; flat usage does not propagate', () => {
    expect(ok({ get_detail: '#4' })).toMatchObject({
      g: { value: 4, set: true },
      h: { value: 4, set: true },
    });
    expect(ok({ get_detail: '4' }, true)).toEqual({ d: { value: 4, set: false } });
  });

  it('strips names; value errors win over unknown metrics; blank values have their own error', () => {
    expect(ok({ ' hits ': '1' })).toEqual({ h: { value: 1, set: false } });
    expect(processUsage({ nope: 'x' }, c, false)).toEqual({
      ok: false,
      error: { code: 'usage_value_invalid', metric: 'nope', value: 'x' },
    });
    expect(processUsage({ nope: '1' }, c, false)).toEqual({
      ok: false,
      error: { code: 'metric_invalid', metric: 'nope' },
    });
    expect(processUsage({ hits: ' ' }, c, false)).toEqual({
      ok: false,
      error: { code: 'usage_value_invalid', metric: 'hits', value: null },
    });
  });

  it('firstUnknownMetric and hasEffect', () => {
    expect(firstUnknownMetric({ hits: 'x', nope: '1' }, c)).toBe('nope');
    expect(firstUnknownMetric({ hits: '1' }, c)).toBeNull();
    expect(hasEffect(new Map([['h', { value: 0, set: false }]]))).toBe(false);
    expect(hasEffect(new Map([['h', { value: 0, set: true }]]))).toBe(true);
  });
});
