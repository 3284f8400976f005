// The gateway role end to end (strict mode, embedded): a real upstream behind it, requests routed by Host,
// authenticated by user_key, metered by mapping rules, limited atomically, answered with 3scale's errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Started, startRoles } from '../support/proc.js';
import { currentValue, get } from './http.js';

describe('gateway role (strict, embedded)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-gw-'));
  let upstream: http.Server;
  let p: Started;
  let gw = '';
  const seen: string[] = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-forwarded-host'] ?? ''}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`upstream saw ${req.url}`);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    writeFileSync(
      join(dir, 'gw.yaml'),
      `version: 1
tenants:
  - name: gwt
    provider_key: gwt-provider-key
    services:
      - id: "9901"
        system_name: items
        upstream: http://127.0.0.1:${port}
        hosts: [api.gw.test]
        auth: { mode: user_key }
        metrics:
          - { system_name: hits }
          - { system_name: list, parent: hits }
        mapping_rules:
          - { method: GET, pattern: "/items$", metric: list, delta: 1 }
        plans:
          - { system_name: basic, name: Basic, limits: { hits: { day: 3 } } }
    accounts:
      - name: Dev
        applications:
          - { name: App, service: items, plan: basic, user_key: gw-key }
`,
    );
    p = await startRoles(dir, join(dir, 'gw.yaml'), ['gateway', 'backend']);
    gw = `http://127.0.0.1:${p.ports.gateway}`;
  }, 60_000);
  afterAll(async () => {
    await p.stop();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (path: string, host = 'api.gw.test') => {
    const res = await request(`${gw}${path}`, { headers: { host } });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  it('answers 3scale-style errors without reaching the upstream or counting', async () => {
    const missing = await call('/items');
    expect([missing.status, missing.body]).toEqual([401, 'Authentication parameters missing']);
    const bad = await call('/items?user_key=nope');
    expect([bad.status, bad.body]).toEqual([403, 'Authentication failed']);
    const nomatch = await call('/other?user_key=gw-key');
    expect([nomatch.status, nomatch.body]).toEqual([404, 'No Mapping Rule matched']);
    const nohost = await call('/items?user_key=gw-key', 'unknown.test');
    expect(nohost.status).toBe(404);
    expect(seen).toEqual([]);
  });

  it('forwards authorized calls, counts them, and answers 429 with Retry-After past the limit', async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await call('/items?user_key=gw-key');
      expect(ok.status).toBe(200);
      expect(ok.body).toBe('upstream saw /items?user_key=gw-key');
    }
    expect(seen[0]).toBe('GET /items?user_key=gw-key api.gw.test');
    const limited = await call('/items?user_key=gw-key');
    expect([limited.status, limited.body]).toEqual([429, 'Limits Exceeded']);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(seen).toHaveLength(3);
    const auth = await get(
      `http://127.0.0.1:${p.ports.backend}/transactions/authorize.xml?provider_key=gwt-provider-key&service_id=9901&user_key=gw-key`,
    );
    expect(currentValue(auth.body, 'hits', 'day')).toBe(3);
  });

  it('exposes request counts and latency by service and status on /metrics', async () => {
    const lines = (await get(`${gw}/metrics`)).body.split('\n');
    const value = (name: string, ...labels: string[]) =>
      lines
        .filter((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)))
        .map((l) => Number(l.split(' ').pop()));
    expect(value('tollgate_gateway_requests_total', 'service="9901"', 'status="200"')).toEqual([3]);
    expect(value('tollgate_gateway_requests_total', 'service="9901"', 'status="429"')).toEqual([1]);
    expect(value('tollgate_gateway_requests_total', 'service="9901"', 'status="401"')).toEqual([1]);
    expect(value('tollgate_gateway_upstream_duration_seconds_count', 'service="9901"')).toEqual([3]);
  });
});
