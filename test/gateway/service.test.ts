// Compiling a config snapshot: one service's fault leaves that service (or host) out, never the others.
import { describe, expect, it } from 'vitest';
import { compileGatewayConfig } from '../../src/gateway/service.js';
import type { SnapshotService } from '../../src/gateway/snapshot.js';

function svc(id: string, over: Partial<SnapshotService> = {}): SnapshotService {
  return {
    id,
    tenantId: `t-${id}`,
    systemName: `s${id}`,
    state: 'active',
    providerKey: `pk-${id}`,
    upstream: 'http://127.0.0.1:9000',
    hosts: [`${id}.test`],
    auth: { mode: 'user_key', location: 'query', param: 'user_key' },
    authorization: { mode: 'strict', on_store_failure: 'deny' },
    gateway: {},
    policies: [],
    metrics: [{ id: `m${id}`, systemName: 'hits' }],
    mappingRules: [{ method: 'GET', pattern: '/', metricId: `m${id}`, delta: 1, last: false }],
    ...over,
  };
}

describe('compileGatewayConfig', () => {
  it('keeps the first service on a clashing host and prefix, and still routes the other services', () => {
    const c = compileGatewayConfig({
      version: 'v1',
      services: [
        svc('a', { hosts: ['shared.test', 'a.test'] }),
        svc('b', { hosts: ['SHARED.test', 'b.test'] }),
        svc('c', { hosts: ['shared.test'], gateway: { path_prefix: '/v2' } }),
      ],
    });
    expect(c.skipped).toEqual([{ serviceId: 'b', reason: 'services a and b both route shared.test/' }]);
    expect(c.router.match('shared.test', '/x')?.id).toBe('a');
    expect(c.router.match('b.test', '/x')?.id).toBe('b');
    expect(c.router.match('shared.test', '/v2/x')?.id).toBe('c');
  });

  it('leaves out a service whose policy chain does not compile, and keeps the rest', () => {
    const c = compileGatewayConfig({
      version: 'v1',
      services: [
        svc('a', {
          policies: [{ name: 'ip_check', enabled: true, configuration: { cidrs: ['not-a-cidr'] } }],
        }),
        svc('b'),
      ],
    });
    expect(c.skipped.map((s) => s.serviceId)).toEqual(['a']);
    expect(c.services.has('a')).toBe(false);
    expect(c.router.match('a.test', '/')).toBeNull();
    expect(c.router.match('b.test', '/')?.id).toBe('b');
  });

  it("compiles each service's error answers over 3scale's defaults", () => {
    const c = compileGatewayConfig({
      version: 'v1',
      services: [svc('a', { gateway: { errors: { no_match: { status: 418, body: 'nope' } } } })],
    });
    const e = c.services.get('a')!.errors;
    expect([e.no_match.status, e.no_match.body.toString(), e.no_match.contentType]).toEqual([
      418,
      'nope',
      'text/plain; charset=us-ascii',
    ]);
    expect([e.auth_missing.status, e.auth_missing.body.toString()]).toEqual([
      401,
      'Authentication parameters missing',
    ]);
  });
});
