/** Rack-style parameter parsing: nesting, conflicts, %-decoding, UTF-8 detection, limits. */
import { describe, expect, it } from 'vitest';
import { parseMultipart, parseParams } from '../../src/backend/params.js';

const parsed = (qs: string) => {
  const r = parseParams(qs);
  if (!r.ok) throw new Error(r.fault);
  return JSON.parse(JSON.stringify(r.params));
};

describe('parseParams', () => {
  it('nests brackets like Rack', () => {
    expect(parsed('usage[hits]=1&usage[get]=%232')).toEqual({ usage: { hits: '1', get: '#2' } });
    expect(parsed('transactions[0][usage][hits]=1&transactions[0][app_id]=a')).toEqual({
      transactions: { '0': { usage: { hits: '1' }, app_id: 'a' } },
    });
    expect(parsed('a[]=1&a[]=2')).toEqual({ a: ['1', '2'] });
    expect(parsed('a[][x]=1&a[][y]=2&a[][x]=3')).toEqual({ a: [{ x: '1', y: '2' }, { x: '3' }] });
    expect(parsed('a=1&a=2&b&c=')).toEqual({ a: '2', b: '', c: '' });
    expect(parsed('x=a+b%20c')).toEqual({ x: 'a b c' });
    expect(parsed('&&x=1&')).toEqual({ x: '1' });
  });

  it('keeps __proto__ as a plain key', () => {
    const r = parseParams('__proto__[polluted]=1&constructor=2');
    expect(r.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses shape conflicts, bad %-encoding, too many params, too much data, too deep', () => {
    expect(parseParams('usage[]=1&usage[hits]=1')).toMatchObject({ ok: false, fault: 'syntax' });
    expect(parseParams('usage[hits]=1&usage[]=1')).toMatchObject({ ok: false, fault: 'syntax' });
    expect(parseParams('a=1&a[b]=2')).toMatchObject({ ok: false, fault: 'syntax' });
    for (const bad of ['a=%', 'a=%2', 'a=%zz', '%g0=1'])
      expect(parseParams(bad)).toMatchObject({ ok: false, fault: 'encoding' });
    const many = Array.from({ length: 5000 }, (_, i) => `p${i}=1`).join('&');
    expect(parseParams(many)).toEqual({ ok: false, fault: 'count', count: 5000 });
    expect(parseParams('a=1', { maxParams: 10, maxBytes: 2, maxDepth: 5 })).toMatchObject({
      ok: false,
      fault: 'size',
    });
    expect(parseParams(`a${'[x]'.repeat(40)}=1`)).toMatchObject({ ok: false, fault: 'syntax' });
  });

  it('flags invalid UTF-8 but decodes valid multi-byte input', () => {
    expect(parseParams('a=%C3%A9')).toMatchObject({ ok: true, invalidUtf8: false, params: { a: 'é' } });
    expect(parseParams('a=%FF')).toMatchObject({ ok: true, invalidUtf8: true });
    expect(parseParams('%C3%28=1')).toMatchObject({ ok: true, invalidUtf8: true });
    // raw bytes as node:http hands them over (one latin1 char per byte)
    expect(parseParams(Buffer.from('a=é', 'utf8').toString('latin1'))).toMatchObject({
      invalidUtf8: false,
      params: { a: 'é' },
    });
  });
});

describe('parseMultipart', () => {
  it('reads fields with nested names', () => {
    const body = Buffer.from(
      '--b\r\nContent-Disposition: form-data; name="t[0][app_id]"\r\n\r\nx\r\n--b--\r\n',
    );
    const r = parseMultipart(body, 'b');
    expect(r.ok && JSON.parse(JSON.stringify(r.params))).toEqual({ t: { '0': { app_id: 'x' } } });
    expect(parseMultipart(Buffer.from('junk'), 'b')).toMatchObject({ ok: false, fault: 'syntax' });
  });
});
