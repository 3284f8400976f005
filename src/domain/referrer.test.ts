import { describe, expect, it } from 'vitest';
import { checkReferrer, globMatch } from './referrer.js';

describe('globMatch', () => {
  it('matches literally except *, anchored', () => {
    expect(globMatch('*.example.com', 'www.example.com')).toBe(true);
    expect(globMatch('*.example.com', 'example.com')).toBe(false);
    expect(globMatch('*.example.com', 'a.example.com.evil')).toBe(false);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('a*c*e', 'abcde')).toBe(true);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('', 'x')).toBe(false);
  });

  it('legacy filters match anywhere', () => {
    expect(globMatch('example.com', 'http://www.example.com/x', true)).toBe(true);
    expect(globMatch('example.com', 'http://www.example.org/x', true)).toBe(false);
  });
});

describe('checkReferrer', () => {
  const filters = ['*.example.com'];
  it('applies only when required and filters exist', () => {
    expect(checkReferrer(false, filters, undefined)).toBe('ok');
    expect(checkReferrer(true, [], undefined)).toBe('ok');
    expect(checkReferrer(true, filters, undefined)).toBe('missing');
    expect(checkReferrer(true, filters, '*')).toBe('ok');
    expect(checkReferrer(true, filters, 'evil.org')).toBe('not_allowed');
    expect(checkReferrer(true, filters, 'a.example.com')).toBe('ok');
  });
});
