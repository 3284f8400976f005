// Router: Host (exact, then wildcard), port and case insensitivity, longest path prefix on segment boundaries.
import { describe, expect, it } from 'vitest';
import { compileRoutes, normalizeHost, parseUpstream } from '../../src/gateway/router.js';

const router = compileRoutes([
  { id: 'echo', hosts: ['echo.localhost'], upstream: 'http://127.0.0.1:9000' },
  { id: 'shared-root', hosts: ['api.example.com'], upstream: 'http://root.internal' },
  { id: 'shared-v1', hosts: ['api.example.com'], pathPrefix: '/v1', upstream: 'http://v1.internal' },
  {
    id: 'shared-v1-items',
    hosts: ['api.example.com'],
    pathPrefix: '/v1/items/',
    upstream: 'http://items.internal',
  },
  { id: 'tenants', hosts: ['*.example.com'], upstream: 'https://tenants.internal/base/' },
  { id: 'deep', hosts: ['*.eu.example.com'], upstream: 'http://eu.internal:8443' },
  { id: 'only-prefixed', hosts: ['pfx.test'], pathPrefix: '/a', upstream: 'http://a.internal' },
]);
const id = (host: string | undefined, path: string) => router.match(host, path)?.id ?? null;

describe('compileRoutes / match', () => {
  it('matches the exact host, case-insensitively and without the port', () => {
    expect(id('echo.localhost', '/')).toBe('echo');
    expect(id('ECHO.Localhost:8080', '/items')).toBe('echo');
    expect(id('echo.localhost.', '/')).toBe('echo');
  });

  it('answers null for an unknown or missing host', () => {
    expect(id('nope.localhost', '/')).toBeNull();
    expect(id(undefined, '/')).toBeNull();
    expect(id('', '/')).toBeNull();
  });

  it('chooses the longest matching path prefix among services sharing a host', () => {
    expect(id('api.example.com', '/v1/items/3')).toBe('shared-v1-items');
    expect(id('api.example.com', '/v1/items')).toBe('shared-v1-items');
    expect(id('api.example.com', '/v1/orders')).toBe('shared-v1');
    expect(id('api.example.com', '/v1')).toBe('shared-v1');
    expect(id('api.example.com', '/v1?x=1')).toBe('shared-v1');
    expect(id('api.example.com', '/v2/x')).toBe('shared-root');
  });

  it('matches prefixes on segment boundaries only', () => {
    expect(id('api.example.com', '/v10/x')).toBe('shared-root');
    expect(id('pfx.test', '/a/b')).toBe('only-prefixed');
    expect(id('pfx.test', '/ab')).toBeNull();
    expect(id('pfx.test', '/')).toBeNull();
  });

  it('prefers an exact host over a wildcard, and the most specific wildcard', () => {
    expect(id('acme.example.com', '/')).toBe('tenants');
    expect(id('a.b.example.com', '/')).toBe('tenants');
    expect(id('shop.eu.example.com', '/')).toBe('deep');
    expect(id('api.example.com', '/')).toBe('shared-root');
  });

  it('does not let a wildcard match its bare domain', () => {
    expect(id('example.com', '/')).toBeNull();
    expect(id('eu.example.com', '/')).toBe('tenants');
  });

  it('precompiles the upstream', () => {
    expect(router.match('x.example.com', '/')?.upstream).toEqual({
      origin: 'https://tenants.internal',
      basePath: '/base',
      host: 'tenants.internal',
      hostname: 'tenants.internal',
      port: 443,
      secure: true,
    });
    expect(router.match('echo.localhost', '/')?.upstream.basePath).toBe('');
    expect(parseUpstream('http://[::1]:9000').hostname).toBe('::1');
    expect(parseUpstream('http://[::1]:9000').host).toBe('[::1]:9000');
  });

  it('refuses two services claiming the same host and prefix, bad hosts and bad upstreams', () => {
    const base = { hosts: ['a.test'], upstream: 'http://x' };
    expect(() =>
      compileRoutes([
        { id: '1', ...base },
        { id: '2', ...base },
      ]),
    ).toThrow(/both route a\.test/);
    expect(() =>
      compileRoutes([
        { id: '1', ...base, pathPrefix: '/p/' },
        { id: '2', ...base, pathPrefix: '/p' },
      ]),
    ).toThrow(/both route/);
    expect(() => compileRoutes([{ id: '1', hosts: ['a.*.test'], upstream: 'http://x' }])).toThrow(
      /invalid host/,
    );
    expect(() => compileRoutes([{ id: '1', hosts: ['a.test'], upstream: 'ftp://x' }])).toThrow(/http/);
    expect(() => compileRoutes([{ id: '1', hosts: ['a.test'], upstream: 'not a url' }])).toThrow();
  });
});

describe('normalizeHost', () => {
  it('strips ports and keeps IPv6 brackets', () => {
    expect(normalizeHost('Example.COM:443')).toBe('example.com');
    expect(normalizeHost('[::1]:8080')).toBe('[::1]');
    expect(normalizeHost('[::1]')).toBe('[::1]');
    expect(normalizeHost('host')).toBe('host');
  });
});
