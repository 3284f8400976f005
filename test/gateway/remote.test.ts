// The remote authorizer against a scripted Service Management API on a real socket: how answers map to
// verdicts, what counts as a store failure, and the cached mode's report retries and final flush.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { emptyParams } from '../../src/backend/params.js';
import { createRemoteAuthorizers, RemoteBackendError } from '../../src/gateway/authz/remote.js';
import type { AuthCall } from '../../src/gateway/authz/types.js';
import type { GatewayService } from '../../src/gateway/service.js';
import type { RemoteBackend } from '../../src/store/sql/repo/records.js';

interface Answer {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

let server: http.Server;
let base = '';
const log: { method: string; path: string; body: string }[] = [];
let answer: (method: string, path: string) => Answer;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString('latin1');
    });
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      log.push({ method: req.method ?? '', path: `${u.pathname}${u.search}`, body });
      const a = answer(req.method ?? '', u.pathname);
      setTimeout(() => {
        res.writeHead(a.status, { 'content-type': 'application/vnd.3scale-v2.0+xml', ...a.headers });
        res.end();
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  log.length = 0;
  answer = () => ({ status: 200 });
});

const svc = (mode: 'user_key' | 'app_id' | 'oidc' = 'user_key') =>
  ({ id: 'svc-1', auth: { mode } }) as unknown as GatewayService;

function call(userKey = 'k', usage: Record<string, string> = { hits: '1' }): AuthCall {
  const u = emptyParams();
  Object.assign(u, usage);
  return { svc: svc(), creds: { kind: 'user_key', userKey }, usage: u };
}

const backend = (over: Partial<RemoteBackend> = {}): RemoteBackend => ({
  url: base,
  mode: 'authrep',
  service_token: 'tok en',
  ...over,
});

describe('remote authorizer, authrep mode', () => {
  it('sends one authrep per call with the credentials, usage and 3scale-options; maps the answers', async () => {
    const set = createRemoteAuthorizers();
    const a = set.for(backend());
    answer = () => ({
      status: 200,
      headers: { '3scale-limit-remaining': '7', '3scale-limit-reset': '30', '3scale-limit-max-value': '10' },
    });
    expect(await a.decide(call('k&1', { hits: '2', 'a b': '1' }))).toEqual({
      ok: true,
      event: null,
      rate: { limit: 10, remaining: 7, reset: 30 },
    });
    const q = new URL(log[0]!.path, 'http://x');
    expect(q.pathname).toBe('/transactions/authrep.xml');
    expect(Object.fromEntries(q.searchParams)).toEqual({
      service_token: 'tok en',
      service_id: 'svc-1',
      user_key: 'k&1',
      'usage[hits]': '2',
      'usage[a b]': '1',
    });
    answer = () => ({
      status: 409,
      headers: { '3scale-rejection-reason': 'limits_exceeded', '3scale-limit-reset': '12' },
    });
    expect(await a.decide(call())).toEqual({ ok: false, code: 'limits_exceeded', retryAfter: 12 });
    answer = () => ({ status: 409, headers: { '3scale-rejection-reason': 'application_not_active' } });
    expect(await a.decide(call())).toEqual({ ok: false, code: 'auth_failed' });
    for (const status of [403, 404]) {
      answer = () => ({ status });
      expect(await a.decide(call())).toEqual({ ok: false, code: 'auth_failed' });
    }
    await set.close();
  });

  it('5xx, 400/422, timeouts and refused connections reject without leaking credentials', async () => {
    const set = createRemoteAuthorizers();
    const a = set.for(backend({ timeout_ms: 150, provider_key: 'secret-pk' }));
    for (const status of [500, 503, 400, 422]) {
      answer = () => ({ status });
      await expect(a.decide(call('secret-key'))).rejects.toBeInstanceOf(RemoteBackendError);
    }
    answer = () => ({ status: 200, delayMs: 1_000 });
    const err = await Promise.resolve(a.decide(call('secret-key'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteBackendError);
    expect(String((err as Error).message)).not.toMatch(/secret/);
    // provider_key wins over service_token.
    expect(new URL(log[0]!.path, 'http://x').searchParams.get('provider_key')).toBe('secret-pk');
    const dead = set.for(backend({ url: 'http://127.0.0.1:1', timeout_ms: 150 }));
    await expect(dead.decide(call())).rejects.toBeInstanceOf(RemoteBackendError);
    await set.close();
  });

  it('app_id credentials, a base path, and the oauth endpoint for OIDC services', async () => {
    const set = createRemoteAuthorizers();
    const a = set.for(backend({ url: `${base}/sm/`, service_id: 'remote-7' }));
    const u = emptyParams();
    u.hits = '1';
    await a.decide({ svc: svc('app_id'), creds: { kind: 'app_id', appId: 'id1', appKey: 'key1' }, usage: u });
    await a.decide({
      svc: svc('oidc'),
      creds: { kind: 'app_id', appId: 'client' },
      usage: u,
      referrer: 'r.example',
    });
    const [p1, p2] = log.map((l) => new URL(l.path, 'http://x'));
    expect(p1!.pathname).toBe('/sm/transactions/authrep.xml');
    expect([p1!.searchParams.get('app_id'), p1!.searchParams.get('app_key')]).toEqual(['id1', 'key1']);
    expect(p1!.searchParams.get('service_id')).toBe('remote-7');
    expect(p2!.pathname).toBe('/sm/transactions/oauth_authrep.xml');
    expect(p2!.searchParams.get('app_key')).toBeNull();
    expect(p2!.searchParams.get('referrer')).toBe('r.example');
    await set.close();
  });

  it('equal settings share one authorizer across config versions', () => {
    const set = createRemoteAuthorizers();
    expect(set.for(backend())).toBe(set.for(backend()));
    expect(set.for(backend())).not.toBe(set.for(backend({ mode: 'cached' })));
    return set.close();
  });
});

describe('remote authorizer, cached mode', () => {
  it('retries a report the remote could not take, and flushes what is pending on close', async () => {
    const set = createRemoteAuthorizers();
    const a = set.for(backend({ mode: 'cached', flush_ms: 100 }));
    let reports = 0;
    answer = (method) => {
      if (method !== 'POST') return { status: 200 };
      reports++;
      return { status: reports === 1 ? 503 : 202 };
    };
    expect(await a.decide(call('k1'))).toEqual({ ok: true, event: null });
    expect(a.decide(call('k1'))).toEqual({ ok: true, event: null }); // from the cache, synchronously
    const deadline = Date.now() + 5_000;
    while (reports < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const posts = log.filter((l) => l.method === 'POST');
    expect(posts.length).toBe(2);
    // The refused batch came back whole in the next one.
    for (const p of posts) {
      const b = new URLSearchParams(p.body);
      expect([b.get('transactions[0][user_key]'), b.get('transactions[0][usage][hits]')]).toEqual([
        'k1',
        '2',
      ]);
    }
    // Pending usage is flushed on close.
    await a.decide(call('k1'));
    await set.close();
    const last = new URLSearchParams(log.filter((l) => l.method === 'POST').at(-1)!.body);
    expect(last.get('transactions[0][usage][hits]')).toBe('1');
    expect(log.filter((l) => l.method === 'GET').length).toBe(2); // one authorize per cache period
  });

  it('a report the remote refuses (4xx) is dropped, not retried forever', async () => {
    const errors: unknown[] = [];
    const set = createRemoteAuthorizers({ onReportError: (e) => errors.push(e) });
    const a = set.for(backend({ mode: 'cached', flush_ms: 60_000 }));
    answer = (method) => ({ status: method === 'POST' ? 403 : 200 });
    await a.decide(call('k2'));
    await set.close();
    expect(log.filter((l) => l.method === 'POST').length).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('a store failure on a miss is not cached', async () => {
    const set = createRemoteAuthorizers();
    const a = set.for(backend({ mode: 'cached', flush_ms: 60_000 }));
    answer = () => ({ status: 503 });
    await expect(a.decide(call('k3'))).rejects.toBeInstanceOf(RemoteBackendError);
    answer = () => ({ status: 200 });
    expect(await a.decide(call('k3'))).toEqual({ ok: true, event: null });
    await set.close();
  });
});
