import { describe, expect, it } from 'vitest';
import {
  type CredentialSettings,
  extractCredentials,
  type HeaderRecord,
  stripCredentials,
} from '../../src/gateway/credentials.js';

const q = (s: string) => new URLSearchParams(s);
const req = (query: string, headers: HeaderRecord = {}) => ({ headers, query: q(query) });

describe('user_key', () => {
  const s: CredentialSettings = { mode: 'user_key' };

  it('reads the default query param', () => {
    expect(extractCredentials(s, req('user_key=k-1&x=2'))).toEqual({ kind: 'user_key', userKey: 'k-1' });
  });

  it('decodes the value', () => {
    expect(extractCredentials(s, req('user_key=a%2Bb%20c'))).toEqual({ kind: 'user_key', userKey: 'a+b c' });
  });

  it('is missing when absent or empty', () => {
    expect(extractCredentials(s, req('x=1'))).toEqual({ kind: 'missing' });
    expect(extractCredentials(s, req('user_key='))).toEqual({ kind: 'missing' });
    expect(extractCredentials(s, req(''))).toEqual({ kind: 'missing' });
  });

  it('does not look in headers when the location is query', () => {
    expect(extractCredentials(s, req('', { user_key: 'k' }))).toEqual({ kind: 'missing' });
  });

  it('takes the first of repeated params (nginx $arg_)', () => {
    expect(extractCredentials(s, req('user_key=one&user_key=two'))).toEqual({
      kind: 'user_key',
      userKey: 'one',
    });
  });

  it('query names match exactly first, then case-insensitively', () => {
    expect(extractCredentials(s, req('USER_KEY=up'))).toEqual({ kind: 'user_key', userKey: 'up' });
    expect(extractCredentials(s, req('USER_KEY=up&user_key=low'))).toEqual({
      kind: 'user_key',
      userKey: 'low',
    });
  });

  it('uses a configured param name', () => {
    const c: CredentialSettings = { mode: 'user_key', param: 'api-key' };
    expect(extractCredentials(c, req('api-key=z'))).toEqual({ kind: 'user_key', userKey: 'z' });
    expect(extractCredentials(c, req('user_key=z'))).toEqual({ kind: 'missing' });
  });

  it('accepts a plain record as the query', () => {
    expect(extractCredentials(s, { headers: {}, query: { user_key: ['a', 'b'] } })).toEqual({
      kind: 'user_key',
      userKey: 'a',
    });
    expect(extractCredentials(s, { headers: {}, query: { User_Key: 'c' } })).toEqual({
      kind: 'user_key',
      userKey: 'c',
    });
    expect(extractCredentials(s, { headers: {}, query: { user_key: [] } })).toEqual({ kind: 'missing' });
    expect(extractCredentials(s, { headers: {}, query: {} })).toEqual({ kind: 'missing' });
  });

  it('reads a header case-insensitively, with - and _ interchangeable', () => {
    const h: CredentialSettings = { mode: 'user_key', location: 'header', param: 'X-User-Key' };
    expect(extractCredentials(h, req('', { 'x-user-key': 'a' }))).toEqual({ kind: 'user_key', userKey: 'a' });
    expect(extractCredentials(h, req('', { 'X-USER-KEY': 'b' }))).toEqual({ kind: 'user_key', userKey: 'b' });
    expect(extractCredentials(h, req('', { x_user_key: 'c' }))).toEqual({ kind: 'user_key', userKey: 'c' });
    expect(extractCredentials(h, req('', { 'x-user-key': ['d', 'e'] }))).toEqual({
      kind: 'user_key',
      userKey: 'd',
    });
    expect(extractCredentials(h, req('x-user-key=q', {}))).toEqual({ kind: 'missing' });
    expect(extractCredentials(h, req('', { 'x-user-key': '' }))).toEqual({ kind: 'missing' });
    expect(extractCredentials(h, req('', { 'x-user-key': undefined }))).toEqual({ kind: 'missing' });
  });

  it('the default header name is user_key, matching a user-key header', () => {
    const h: CredentialSettings = { mode: 'user_key', location: 'header' };
    expect(extractCredentials(h, req('', { 'user-key': 'k' }))).toEqual({ kind: 'user_key', userKey: 'k' });
  });
});

describe('app_id', () => {
  const s: CredentialSettings = { mode: 'app_id' };

  it('reads app_id and app_key from the query', () => {
    expect(extractCredentials(s, req('app_id=a1&app_key=s1'))).toEqual({
      kind: 'app_id',
      appId: 'a1',
      appKey: 's1',
    });
  });

  it('app_key is optional (an application without keys); app_id is not', () => {
    expect(extractCredentials(s, req('app_id=a1'))).toEqual({ kind: 'app_id', appId: 'a1' });
    expect(extractCredentials(s, req('app_id=a1&app_key='))).toEqual({ kind: 'app_id', appId: 'a1' });
    expect(extractCredentials(s, req('app_key=s1'))).toEqual({ kind: 'missing' });
  });

  it('uses configured names, in headers', () => {
    const h: CredentialSettings = {
      mode: 'app_id',
      location: 'header',
      param: 'X-App-Id',
      key_param: 'X-App-Key',
    };
    expect(extractCredentials(h, req('app_id=no', { 'x-app-id': 'a', 'x-app-key': 'k' }))).toEqual({
      kind: 'app_id',
      appId: 'a',
      appKey: 'k',
    });
    expect(extractCredentials(h, req('', { 'x-app-key': 'k' }))).toEqual({ kind: 'missing' });
  });
});

describe('oidc', () => {
  const s: CredentialSettings = { mode: 'oidc' };

  it('reads a bearer token from Authorization', () => {
    expect(extractCredentials(s, req('', { authorization: 'Bearer aaa.bbb.ccc' }))).toEqual({
      kind: 'oidc',
      token: 'aaa.bbb.ccc',
    });
    expect(extractCredentials(s, req('', { authorization: 'bearer   x-y_z~+/=' }))).toEqual({
      kind: 'oidc',
      token: 'x-y_z~+/=',
    });
  });

  it('refuses other schemes and malformed values', () => {
    expect(extractCredentials(s, req('', { authorization: 'Basic dXNlcjpwYXNz' }))).toEqual({
      kind: 'missing',
    });
    expect(extractCredentials(s, req('', { authorization: 'Bearer' }))).toEqual({ kind: 'missing' });
    expect(extractCredentials(s, req('', { authorization: 'Bearer a b' }))).toEqual({ kind: 'missing' });
    expect(extractCredentials(s, req('', { authorization: 'aaa.bbb.ccc' }))).toEqual({ kind: 'missing' });
    expect(extractCredentials(s, req('access_token=t'))).toEqual({ kind: 'missing' });
  });

  it('a custom header may carry a bare token or a bearer one', () => {
    const h: CredentialSettings = { mode: 'oidc', location: 'header', param: 'X-Token' };
    expect(extractCredentials(h, req('', { 'x-token': 'raw.jwt.value' }))).toEqual({
      kind: 'oidc',
      token: 'raw.jwt.value',
    });
    expect(extractCredentials(h, req('', { 'x-token': 'Bearer b.j.v' }))).toEqual({
      kind: 'oidc',
      token: 'b.j.v',
    });
  });

  it('query location: access_token param, also when param is the resolver default Authorization', () => {
    const a: CredentialSettings = { mode: 'oidc', location: 'query' };
    const b: CredentialSettings = { mode: 'oidc', location: 'query', param: 'Authorization' };
    const c: CredentialSettings = { mode: 'oidc', location: 'query', param: 'jwt' };
    expect(extractCredentials(a, req('access_token=t1'))).toEqual({ kind: 'oidc', token: 't1' });
    expect(extractCredentials(b, req('access_token=t2'))).toEqual({ kind: 'oidc', token: 't2' });
    expect(extractCredentials(c, req('jwt=t3&access_token=no'))).toEqual({ kind: 'oidc', token: 't3' });
  });

  it('always accepts Authorization: Bearer as a fallback (RFC 6750 §2.1)', () => {
    const a: CredentialSettings = { mode: 'oidc', location: 'query' };
    const h: CredentialSettings = { mode: 'oidc', location: 'header', param: 'X-Token' };
    expect(extractCredentials(a, req('', { authorization: 'Bearer fb' }))).toEqual({
      kind: 'oidc',
      token: 'fb',
    });
    expect(extractCredentials(h, req('', { Authorization: 'Bearer fb2' }))).toEqual({
      kind: 'oidc',
      token: 'fb2',
    });
    expect(extractCredentials(a, req('access_token=first', { authorization: 'Bearer fb' }))).toEqual({
      kind: 'oidc',
      token: 'first',
    });
  });
});

describe('stripCredentials', () => {
  it('forwards everything untouched by default (as APIcast)', () => {
    const headers = { 'x-user-key': 'k' };
    const out = stripCredentials({ mode: 'user_key' }, '/a?user_key=k&b=1', headers);
    expect(out.url).toBe('/a?user_key=k&b=1');
    expect(out.headers).toBe(headers);
    expect(stripCredentials({ mode: 'user_key', forward_credentials: true }, '/a?user_key=k', {}).url).toBe(
      '/a?user_key=k',
    );
  });

  it('removes query credentials and keeps the rest of the query byte for byte', () => {
    const s: CredentialSettings = { mode: 'user_key', forward_credentials: false };
    expect(stripCredentials(s, '/a?b=%20x+y&user_key=k&c', {}).url).toBe('/a?b=%20x+y&c');
    expect(stripCredentials(s, '/a?user_key=k', {}).url).toBe('/a');
    expect(stripCredentials(s, '/a?user_key=k&user_key=j&USER_KEY=m', {}).url).toBe('/a');
    expect(stripCredentials(s, '/a?user%5Fkey=k&z=1', {}).url).toBe('/a?z=1');
    expect(stripCredentials(s, '/a?user_keys=k', {}).url).toBe('/a?user_keys=k');
    expect(stripCredentials(s, '/a', {}).url).toBe('/a');
  });

  it('removes both app_id and app_key', () => {
    const s: CredentialSettings = { mode: 'app_id', forward_credentials: false };
    expect(stripCredentials(s, '/x?app_id=a&keep=1&app_key=k', {}).url).toBe('/x?keep=1');
  });

  it('removes credential headers without mutating the input', () => {
    const s: CredentialSettings = {
      mode: 'app_id',
      location: 'header',
      param: 'X-App-Id',
      key_param: 'X-App-Key',
      forward_credentials: false,
    };
    const headers = { 'x-app-id': 'a', x_app_key: 'k', accept: 'text/plain' };
    const out = stripCredentials(s, '/p?x-app-id=stay', headers);
    expect(out.headers).toEqual({ accept: 'text/plain' });
    expect(out.url).toBe('/p?x-app-id=stay');
    expect(headers).toEqual({ 'x-app-id': 'a', x_app_key: 'k', accept: 'text/plain' });
  });

  it('oidc: removes the bearer Authorization header and a query token', () => {
    const h: CredentialSettings = { mode: 'oidc', forward_credentials: false };
    expect(stripCredentials(h, '/p', { authorization: 'Bearer t', accept: '*/*' }).headers).toEqual({
      accept: '*/*',
    });
    const qs: CredentialSettings = { mode: 'oidc', location: 'query', forward_credentials: false };
    const out = stripCredentials(qs, '/p?access_token=t&a=1', { authorization: 'Bearer t' });
    expect(out.url).toBe('/p?a=1');
    expect(out.headers).toEqual({});
  });

  it('oidc: keeps a non-bearer Authorization header (it is not our credential)', () => {
    const qs: CredentialSettings = { mode: 'oidc', location: 'query', forward_credentials: false };
    expect(stripCredentials(qs, '/p?access_token=t', { authorization: 'Basic eDp5' }).headers).toEqual({
      authorization: 'Basic eDp5',
    });
  });
});
