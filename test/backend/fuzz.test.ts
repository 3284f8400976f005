/**
 * Fuzz: a seeded PRNG drives ≥ 2000 requests with random names, nested brackets, %-encodings (valid and
 * not), invalid UTF-8, huge values, many parameters and random methods at the five endpoints. Every answer
 * must be < 500 with the 3scale content type, and the server must stay up.
 */
import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Harness, startHarness, XML } from './support/fixture.js';

/** mulberry32: small, seedable, good enough to pick cases reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 0x7011_6a7e;
const ENDPOINTS = [
  '/transactions/authorize.xml',
  '/transactions/authrep.xml',
  '/transactions/oauth_authorize.xml',
  '/transactions/oauth_authrep.xml',
  '/transactions.xml',
];
const NAMES = [
  'provider_key',
  'service_token',
  'service_id',
  'app_id',
  'app_key',
  'user_key',
  'user_id',
  'referrer',
  'usage',
  'log',
  'redirect_url',
  'redirect_uri',
  'no_body',
  'transactions',
  '__proto__',
  'constructor',
];
const VALUES = [
  'pk1',
  'svc-ak',
  'svc-uk',
  'svc-oidc',
  'app1',
  'k1',
  'uk1',
  'ukmin',
  'tok-ak',
  '*',
  '1',
  '#3',
  '0',
  '-1',
  '',
];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH'];

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

function generator(rnd: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const int = (n: number) => Math.floor(rnd() * n);
  const junk = (): string => {
    const parts = [
      '%',
      '%2',
      '%zz',
      '%FF',
      '%C3%28',
      '%E2%82',
      '%ED%A0%80',
      '%00',
      '+',
      '[',
      ']',
      '[]',
      '&',
      '=',
      'é',
      '%5B',
      '%5D',
      '%23',
    ];
    let s = '';
    const n = 1 + int(6);
    for (let i = 0; i < n; i++) s += rnd() < 0.5 ? pick(parts) : String.fromCharCode(97 + int(26));
    return s;
  };
  const name = (): string => {
    let n = rnd() < 0.7 ? pick(NAMES) : junk();
    const depth = int(4);
    for (let i = 0; i < depth; i++) {
      const r = rnd();
      n +=
        r < 0.2
          ? '[]'
          : r < 0.6
            ? `[${pick(['hits', 'get_detail', '0', '1', 'app_id', 'usage', 'code', 'timestamp'])}]`
            : `[${junk()}]`;
    }
    return n;
  };
  const value = (): string => {
    const r = rnd();
    if (r < 0.5) return encodeURIComponent(pick(VALUES));
    if (r < 0.8) return junk();
    if (r < 0.9) return 'x'.repeat(1 + int(20_000));
    return String(10 ** int(30));
  };
  return (): { method: string; path: string; body?: string; headers: Record<string, string> } => {
    const method = pick(METHODS);
    const endpoint = pick(ENDPOINTS);
    const count = rnd() < 0.05 ? 4000 + int(1000) : int(12);
    const pairs: string[] = [];
    for (let i = 0; i < count; i++) pairs.push(rnd() < 0.1 ? name() : `${name()}=${value()}`);
    const qs = pairs.join('&');
    const headers: Record<string, string> = {};
    if (rnd() < 0.3)
      headers['3scale-options'] = `limit_headers=1&no_body=${pick(['1', '0'])}&hierarchy=1&${junk()}`;
    if (method === 'POST') {
      const ct = pick([
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=zz',
        'text/plain',
        '',
      ]);
      if (ct !== '') headers['content-type'] = ct;
      const bodyBytes = rnd() < 0.2 ? Buffer.from([0xff, 0xfe, 0x26, 0x3d]).toString('latin1') : '';
      return {
        method,
        path: rnd() < 0.3 ? `${endpoint}?${qs.slice(0, 2000)}` : endpoint,
        body: qs + bodyBytes,
        headers,
      };
    }
    return { method, path: `${endpoint}?${qs}`, headers };
  };
}

function send(base: URL, agent: http.Agent, r: ReturnType<ReturnType<typeof generator>>) {
  return new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        agent,
        insecureHTTPParser: true,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] }));
      },
    );
    req.on('error', reject);
    if (r.body !== undefined) req.end(Buffer.from(r.body, 'latin1'));
    else req.end();
  });
}

it('2000+ random requests: every answer < 500 with the XML type; the server stays up', async () => {
  const next = generator(prng(SEED));
  const base = new URL(h.url);
  const agent = new http.Agent({ keepAlive: false, maxSockets: 20 });
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  try {
    for (let batch = 0; batch < 105; batch++) {
      const reqs = Array.from({ length: 20 }, next);
      const results = await Promise.all(
        reqs.map((r) =>
          send(base, agent, r).catch((err: Error) => {
            failures.push(
              `client error ${err.message} ${r.method} ${JSON.stringify(r.headers)} ${r.path.slice(0, 300)}`,
            );
            return { status: 0, type: XML };
          }),
        ),
      );
      results.forEach((res, i) => {
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500 || res.type !== XML) {
          const r = reqs[i]!;
          failures.push(`${res.status} ${res.type} ${r.method} ${r.path.slice(0, 200)}`);
        }
      });
    }
  } finally {
    agent.destroy();
  }
  expect(failures.slice(0, 5)).toEqual([]);
  // every request was answered, with several kinds of answers (400, 403, 404, 422 at least)
  expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(2100);
  expect(statuses.size).toBeGreaterThanOrEqual(4);
  const alive = await new Promise<number>((resolve, reject) => {
    http
      .get(`${h.url}/transactions/authorize.xml?provider_key=pk1&app_id=app-nokeys`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  expect(alive).toBe(200);
});
