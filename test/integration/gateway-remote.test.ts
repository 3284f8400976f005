// Remote backend mode end to end: a Tollgate backend process plays "the existing 3scale backend"; a Tollgate
// gateway process (its own data dir, no plans or applications) authorizes against it over HTTP, in authrep
// and in cached mode. A counting pass-through in front of the remote shows what the gateway asked it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentifiedUsageEvent } from '../../src/backend/events.js';
import { decodeUsageRecord } from '../../src/backend/usage-columns.js';
import { type Started, startTollgate } from '../support/proc.js';
import { currentValue, get } from './http.js';

const listen = (s: http.Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
const close = (s: http.Server) =>
  new Promise<void>((r) => {
    s.closeAllConnections();
    s.close(() => r());
  });

describe('gateway with a remote 3scale-compatible backend', () => {
  const remoteDir = mkdtempSync(join(tmpdir(), 'tollgate-remote-be-'));
  const gwDir = mkdtempSync(join(tmpdir(), 'tollgate-remote-gw-'));
  let upstream: http.Server;
  let counter: http.Server;
  let remote: Started;
  let gateway: Started;
  let gw = '';
  let remoteUrl = '';
  const seen: string[] = [];
  /** What reached the remote through the pass-through: `METHOD path service_id`, and the options header. */
  const asked: { line: string; options: string; query: string; body: string }[] = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      seen.push(`${req.headers['x-forwarded-host']} ${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`upstream saw ${req.url}`);
    });
    const upstreamPort = await listen(upstream);

    writeFileSync(
      join(remoteDir, 'remote.yaml'),
      `version: 1
tenants:
  - name: saas
    provider_key: saas-provider-key
    services:
      - id: "9901"
        system_name: authrep_api
        service_token: token-9901
        auth: { mode: user_key }
        metrics:
          - { system_name: hits }
          - { system_name: list, parent: hits }
        plans:
          - { system_name: basic, limits: { hits: { day: 3 } } }
          - { system_name: free }
      - id: "9902"
        system_name: cached_api
        service_token: token-9902
        auth: { mode: app_id }
        metrics:
          - { system_name: hits }
          - { system_name: list, parent: hits }
        plans:
          - { system_name: basic, limits: { hits: { day: 4 } } }
          - { system_name: free }
    accounts:
      - name: Dev
        applications:
          - { name: A, service: authrep_api, plan: basic, user_key: key-a }
          - { name: B, service: authrep_api, plan: free, user_key: key-b }
          - { name: C, service: cached_api, plan: basic, app_id: app-c, app_keys: [secret-c] }
          - { name: D, service: cached_api, plan: free, app_id: app-d, app_keys: [secret-d] }
`,
    );
    remote = await startTollgate(
      [
        '--data-dir',
        remoteDir,
        '--config',
        join(remoteDir, 'remote.yaml'),
        '--roles',
        'backend,worker',
        '--backend-port',
        '0',
      ],
      {},
      ['backend'],
    );
    remoteUrl = `http://127.0.0.1:${remote.ports.backend}`;

    counter = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (d: string) => {
        body += d;
      });
      req.on('end', () => {
        asked.push({
          line: `${req.method} ${u.pathname} ${u.searchParams.get('service_id') ?? ''}`,
          options: String(req.headers['3scale-options'] ?? ''),
          query: u.search,
          body,
        });
        const up = http.request(
          {
            host: '127.0.0.1',
            port: remote.ports.backend,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        up.end(body, 'latin1');
      });
    });
    const counterPort = await listen(counter);
    // A port nobody listens on: the remote is down.
    const dead = http.createServer();
    const deadPort = await listen(dead);
    await close(dead);

    const service = (id: string, host: string, auth: string, backend: string, extra = '') => `
      - id: "${id}"
        system_name: s${id}
        upstream: http://127.0.0.1:${upstreamPort}
        hosts: [${host}]
        auth: ${auth}
        backend: ${backend}${extra}
        metrics:
          - { system_name: hits }
          - { system_name: list, parent: hits }
        mapping_rules:
          - { method: GET, pattern: "/items$", metric: list, delta: 1 }`;
    const via = `http://127.0.0.1:${counterPort}`;
    writeFileSync(
      join(gwDir, 'gw.yaml'),
      `version: 1
tenants:
  - name: edge
    provider_key: edge-provider-key
    services:${service(
      '9901',
      'authrep.remote.test',
      '{ mode: user_key }',
      `{ url: "${via}", mode: authrep, service_token: token-9901 }`,
      `
        rate_limit_headers: true
        errors:
          auth_failed: { status: 401, content_type: application/json, body: '{"error":"unknown key"}' }`,
    )}${service(
      '7777',
      'cached.remote.test',
      '{ mode: app_id }',
      `{ url: "${via}", mode: cached, service_token: token-9902, service_id: "9902", flush_ms: 2500 }`,
    )}${service(
      '9903',
      'down.remote.test',
      '{ mode: user_key }',
      `{ url: "http://127.0.0.1:${deadPort}", mode: authrep, service_token: t, timeout_ms: 500 }`,
    )}${service(
      '9904',
      'down-cached.remote.test',
      '{ mode: user_key }',
      `{ url: "http://127.0.0.1:${deadPort}", mode: cached, provider_key: pk, timeout_ms: 500 }`,
    )}
`,
    );
    gateway = await startTollgate(
      ['--data-dir', gwDir, '--config', join(gwDir, 'gw.yaml'), '--roles', 'gateway', '--gateway-port', '0'],
      {},
      ['gateway'],
    );
    gw = `http://127.0.0.1:${gateway.ports.gateway}`;
  }, 90_000);

  afterAll(async () => {
    await gateway?.stop();
    await remote?.stop();
    await Promise.all([upstream, counter].filter(Boolean).map(close));
    rmSync(remoteDir, { recursive: true, force: true });
    rmSync(gwDir, { recursive: true, force: true });
  });

  const call = async (path: string, host: string) => {
    const res = await request(`${gw}${path}`, { headers: { host } });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };
  /** The remote's own counter for an application, read from its authorize.xml usage report. */
  const remoteHits = async (serviceId: string, creds: string) => {
    const r = await get(
      `${remoteUrl}/transactions/authorize.xml?provider_key=saas-provider-key&service_id=${serviceId}&${creds}`,
    );
    return currentValue(r.body, 'hits', 'day');
  };
  /** The usage events the gateway process wrote to its own (SQLite) usage log, once `n` match. */
  const gatewayEvents = async (keep: (e: IdentifiedUsageEvent) => boolean, n: number) => {
    const db = new Database(join(gwDir, 'tollgate.db'), { readonly: true });
    try {
      const end = Date.now() + 5000;
      for (;;) {
        const rows = db
          .prepare("SELECT record_id, payload FROM usage_log WHERE stream = 'events' ORDER BY seq")
          .all() as { record_id: string; payload: string }[];
        const got = rows
          .flatMap((r) => decodeUsageRecord({ id: r.record_id, payload: JSON.parse(r.payload) }))
          .filter(keep);
        if (got.length >= n || Date.now() > end) return got;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      db.close();
    }
  };
  const askedFor = (prefix: string) => asked.filter((a) => a.line.startsWith(prefix)).length;

  describe('authrep mode', () => {
    it('forwards allowed calls and the remote counts each one, with RateLimit headers from its limits', async () => {
      const before = askedFor('GET /transactions/authrep.xml');
      for (let i = 1; i <= 3; i++) {
        const ok = await call('/items?user_key=key-a', 'authrep.remote.test');
        expect(ok.status).toBe(200);
        expect(ok.body).toBe('upstream saw /items?user_key=key-a');
        expect(ok.headers['ratelimit-limit']).toBe('3');
        expect(ok.headers['ratelimit-remaining']).toBe(String(3 - i));
        expect(Number(ok.headers['ratelimit-reset'])).toBeGreaterThan(0);
      }
      expect(askedFor('GET /transactions/authrep.xml 9901')).toBe(before + 3);
      const last = asked.at(-1)!;
      expect(last.options).toContain('rejection_reason_header=1');
      expect(last.options).toContain('limit_headers=1');
      const q = new URLSearchParams(last.query);
      expect(q.get('service_token')).toBe('token-9901');
      expect(q.get('user_key')).toBe('key-a');
      expect(q.get('usage[list]')).toBe('1');
      expect(await remoteHits('9901', 'user_key=key-a')).toBe(3);
      // The gateway still records each admitted call for its own analytics: list rolled up into hits,
      // the application named by the key's digest, never by the key.
      const events = await gatewayEvents((e) => e.serviceId === '9901', 3);
      expect(events).toHaveLength(3);
      for (const e of events) {
        expect(e.appId).toMatch(/^uk:[0-9a-f]{16}$/);
        expect(Object.values(e.usage).sort()).toEqual([1, 1]);
        expect(e).toMatchObject({ source: 'gateway', status: 200 });
      }
      expect(JSON.stringify(events)).not.toContain('key-a');
    });

    it("answers the remote's limits with 429 and Retry-After, without reaching the upstream", async () => {
      const upstreamBefore = seen.length;
      const limited = await call('/items?user_key=key-a', 'authrep.remote.test');
      expect([limited.status, limited.body]).toEqual([429, 'Limits Exceeded']);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.headers['ratelimit-remaining']).toBe('0');
      expect(seen.length).toBe(upstreamBefore);
      expect(await remoteHits('9901', 'user_key=key-a')).toBe(3);
    });

    it("turns the remote's refusals into the service's auth_failed answer", async () => {
      const bad = await call('/items?user_key=nobody', 'authrep.remote.test');
      expect(bad.status).toBe(401);
      expect(bad.headers['content-type']).toBe('application/json');
      expect(bad.body).toBe('{"error":"unknown key"}');
    });

    it('does not ask the remote without credentials or a matching rule', async () => {
      const before = asked.length;
      const missing = await call('/items', 'authrep.remote.test');
      expect([missing.status, missing.body]).toEqual([401, 'Authentication parameters missing']);
      const nomatch = await call('/other?user_key=key-b', 'authrep.remote.test');
      expect([nomatch.status, nomatch.body]).toEqual([404, 'No Mapping Rule matched']);
      expect(asked.length).toBe(before);
      // An application without limits: allowed, no RateLimit headers (the remote sent no limit headers).
      const free = await call('/items?user_key=key-b', 'authrep.remote.test');
      expect(free.status).toBe(200);
      expect(free.headers['ratelimit-limit']).toBeUndefined();
    });
  });

  describe('cached mode', () => {
    it('asks authorize once, admits from the cache up to what the remote said fits, then 429', async () => {
      const before = askedFor('GET /transactions/authorize.xml 9902');
      for (let i = 0; i < 4; i++) {
        const ok = await call('/items?app_id=app-c&app_key=secret-c', 'cached.remote.test');
        expect(ok.status).toBe(200);
      }
      const limited = await call('/items?app_id=app-c&app_key=secret-c', 'cached.remote.test');
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(askedFor('GET /transactions/authorize.xml 9902')).toBe(before + 1);
      expect(askedFor('GET /transactions/authrep.xml 9902')).toBe(0);
      const q = new URLSearchParams(
        asked.find((a) => a.line.startsWith('GET /transactions/authorize.xml'))!.query,
      );
      expect([q.get('service_token'), q.get('service_id'), q.get('app_id'), q.get('app_key')]).toEqual([
        'token-9902',
        '9902',
        'app-c',
        'secret-c',
      ]);
    });

    it('reports the admitted usage to the remote in a batch after flush_ms', async () => {
      const deadline = Date.now() + 15_000;
      let hits = await remoteHits('9902', 'app_id=app-c&app_key=secret-c');
      while (hits < 4 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        hits = await remoteHits('9902', 'app_id=app-c&app_key=secret-c');
      }
      expect(hits).toBe(4);
      const reports = asked.filter((a) => a.line === 'POST /transactions.xml ');
      expect(reports.length).toBeGreaterThanOrEqual(1);
      let reported = 0;
      for (const r of reports) {
        const body = new URLSearchParams(r.body);
        expect([body.get('service_token'), body.get('service_id')]).toEqual(['token-9902', '9902']);
        for (let i = 0; body.has(`transactions[${i}][app_id]`); i++) {
          expect(body.get(`transactions[${i}][app_key]`)).toBeNull();
          if (body.get(`transactions[${i}][app_id]`) === 'app-c')
            reported += Number(body.get(`transactions[${i}][usage][list]`));
        }
      }
      expect(reported).toBe(4);
    });

    it('concurrent identical misses share one request to the remote', async () => {
      const before = askedFor('GET /transactions/authorize.xml 9902');
      const all = await Promise.all(
        Array.from({ length: 6 }, () => call('/items?app_id=app-d&app_key=secret-d', 'cached.remote.test')),
      );
      expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(askedFor('GET /transactions/authorize.xml 9902')).toBe(before + 1);
    });

    it('serves a cached denial from the cache', async () => {
      const before = askedFor('GET /transactions/authorize.xml 9902');
      for (let i = 0; i < 3; i++) {
        const bad = await call('/items?app_id=app-c&app_key=wrong', 'cached.remote.test');
        expect([bad.status, bad.body]).toEqual([403, 'Authentication failed']);
      }
      expect(askedFor('GET /transactions/authorize.xml 9902')).toBe(before + 1);
    });
  });

  describe('remote down', () => {
    it("answers the service's on_store_failure (deny: 503) in both modes, and keeps serving", async () => {
      for (const host of ['down.remote.test', 'down-cached.remote.test']) {
        const r = await call('/items?user_key=k', host);
        expect([r.status, r.body]).toEqual([503, 'Service Unavailable']);
      }
      expect(seen.some((s) => s.startsWith('down'))).toBe(false);
      const ok = await call('/items?user_key=key-b', 'authrep.remote.test');
      expect(ok.status).toBe(200);
    });
  });
});
