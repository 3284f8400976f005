// Per-service error answers and rate-limit headers end to end through a gateway process: each of the four
// 3scale errors with its configured status, content type and body; 429 + Retry-After; RateLimit-* headers
// only for services that ask for them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Started, startRoles } from '../support/proc.js';

const listen = (s: http.Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

/** Seconds from now to the end of the current UTC day. */
const toEndOfDay = () => {
  const now = Date.now();
  const d = new Date(now);
  return (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) - now) / 1000;
};

describe('gateway errors and rate-limit headers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-gw-err-'));
  let upstream: http.Server;
  let p: Started;
  let gw = '';
  let reached = 0;

  beforeAll(async () => {
    upstream = http.createServer((_req, res) => {
      reached++;
      res.end('ok');
    });
    const up = `http://127.0.0.1:${await listen(upstream)}`;
    const svc = (id: string, name: string, extra: string) => `
      - id: "${id}"
        system_name: ${name}
        upstream: ${up}
        hosts: [${name}.err.test]
        metrics: [ { system_name: hits } ]
        mapping_rules: [ { method: GET, pattern: "/limited", metric: hits } ]
        plans: [ { system_name: p, limits: { hits: { day: 2 } } } ]${extra}`;
    writeFileSync(
      join(dir, 'err.yaml'),
      `version: 1
tenants:
  - name: err
    provider_key: err-provider-key
    services:${svc(
      '6601',
      'custom',
      `
        errors:
          auth_missing: { status: 400, content_type: application/json, body: '{"error":"no key"}' }
          auth_failed: { status: 401, content_type: application/problem+json, body: '{"title":"bad key"}' }
          no_match: { status: 405, content_type: text/html, body: "<p>nothing here</p>" }
          limits_exceeded: { status: 403, body: "Slow down" }`,
    )}${svc('6602', 'headers', '\n        rate_limit_headers: true')}${svc('6603', 'plain', '')}
    accounts:
      - name: Dev
        applications:
          - { name: C, service: custom, plan: p, user_key: key-c }
          - { name: H, service: headers, plan: p, user_key: key-h }
          - { name: P, service: plain, plan: p, user_key: key-p }
`,
    );
    p = await startRoles(dir, join(dir, 'err.yaml'), ['gateway']);
    gw = `http://127.0.0.1:${p.ports.gateway}`;
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
    upstream.closeAllConnections();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (path: string, host: string) => {
    const res = await request(`${gw}${path}`, { headers: { host } });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  it('answers each error with the status, content type and body the service configured', async () => {
    const missing = await call('/limited', 'custom.err.test');
    expect([missing.status, missing.headers['content-type'], missing.body]).toEqual([
      400,
      'application/json',
      '{"error":"no key"}',
    ]);
    const failed = await call('/limited?user_key=nope', 'custom.err.test');
    expect([failed.status, failed.headers['content-type'], failed.body]).toEqual([
      401,
      'application/problem+json',
      '{"title":"bad key"}',
    ]);
    const nomatch = await call('/nothing?user_key=key-c', 'custom.err.test');
    expect([nomatch.status, nomatch.headers['content-type'], nomatch.body]).toEqual([
      405,
      'text/html',
      '<p>nothing here</p>',
    ]);
    expect(Number(nomatch.headers['content-length'])).toBe('<p>nothing here</p>'.length);
    expect(reached).toBe(0);
    for (let i = 0; i < 2; i++)
      expect((await call('/limited?user_key=key-c', 'custom.err.test')).status).toBe(200);
    const limited = await call('/limited?user_key=key-c', 'custom.err.test');
    // A custom status keeps Retry-After; the content type defaults to 3scale's.
    expect([limited.status, limited.headers['content-type'], limited.body]).toEqual([
      403,
      'text/plain; charset=us-ascii',
      'Slow down',
    ]);
    const retry = Number(limited.headers['retry-after']);
    expect(Math.abs(retry - toEndOfDay())).toBeLessThanOrEqual(2);
    expect(limited.headers['ratelimit-limit']).toBeUndefined();
    expect(reached).toBe(2);
  });

  it("3scale's defaults where the service configures nothing: 429 Limits Exceeded with Retry-After", async () => {
    expect((await call('/limited', 'plain.err.test')).body).toBe('Authentication parameters missing');
    for (let i = 0; i < 2; i++) {
      const ok = await call('/limited?user_key=key-p', 'plain.err.test');
      expect(ok.status).toBe(200);
      expect(ok.headers['ratelimit-limit']).toBeUndefined();
      expect(ok.headers['ratelimit-remaining']).toBeUndefined();
    }
    const limited = await call('/limited?user_key=key-p', 'plain.err.test');
    expect([limited.status, limited.headers['content-type'], limited.body]).toEqual([
      429,
      'text/plain; charset=us-ascii',
      'Limits Exceeded',
    ]);
    expect(Math.abs(Number(limited.headers['retry-after']) - toEndOfDay())).toBeLessThanOrEqual(2);
    expect(limited.headers['ratelimit-reset']).toBeUndefined();
  });

  it('adds RateLimit-Limit/Remaining/Reset to allowed and limited answers when the service asks', async () => {
    for (const remaining of [1, 0]) {
      const ok = await call('/limited?user_key=key-h', 'headers.err.test');
      expect(ok.status).toBe(200);
      expect(ok.headers['ratelimit-limit']).toBe('2');
      expect(ok.headers['ratelimit-remaining']).toBe(String(remaining));
      expect(Math.abs(Number(ok.headers['ratelimit-reset']) - toEndOfDay())).toBeLessThanOrEqual(2);
    }
    const limited = await call('/limited?user_key=key-h', 'headers.err.test');
    expect(limited.status).toBe(429);
    expect(limited.headers['ratelimit-limit']).toBe('2');
    expect(limited.headers['ratelimit-remaining']).toBe('0');
    expect(Number(limited.headers['ratelimit-reset'])).toBe(Number(limited.headers['retry-after']));
    // Errors that are not about limits carry none.
    const failed = await call('/limited?user_key=nope', 'headers.err.test');
    expect(failed.status).toBe(403);
    expect(failed.headers['ratelimit-limit']).toBeUndefined();
  });
});
