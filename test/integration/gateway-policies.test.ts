// The gateway role as a process (dist/, via `tollgate start`) with real upstreams: two services sharing a
// host told apart by path prefix, a policy chain end to end (preflight, rewrite, edge limit, response
// headers, JSON access log on stdout), a policy applied to the running gateway, and export → apply of
// policies with no change.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Upstream } from '../gateway/policies/harness.js';
import { runCli, type Started, startTollgate } from '../support/proc.js';

function svc(id: string, name: string, upstream: string, extra: Record<string, unknown>) {
  return {
    id,
    system_name: name,
    upstream,
    auth: { mode: 'user_key' },
    metrics: [{ system_name: 'hits' }],
    mapping_rules: [{ method: 'ANY', pattern: '/', metric: 'hits' }],
    plans: [{ system_name: 'basic', limits: { hits: { day: 1000 } } }],
    ...extra,
  };
}

const EDGE_POLICIES = [
  { name: 'cors', enabled: true, configuration: { allow_origin: 'https://app.example.com' } },
  {
    name: 'url_rewriting',
    enabled: true,
    configuration: { commands: [{ op: 'sub', regex: '^/old/', replace: '/new/' }] },
  },
  {
    name: 'rate_limit',
    enabled: true,
    configuration: { fixed_window_limiters: [{ key: { by: 'credential' }, count: 2, window: 3600 }] },
  },
  {
    name: 'headers',
    enabled: true,
    configuration: { response: [{ op: 'set', header: 'X-Served-By', value: 'tollgate' }] },
  },
  { name: 'logging', enabled: true, configuration: { fields: ['service', 'method', 'path', 'status'] } },
];

describe('gateway policies and path prefixes (process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-gwpol-'));
  let a: Upstream;
  let b: Upstream;
  let p: Started;
  let gw = '';
  let config: Record<string, unknown>;
  const file = join(dir, 'gw.yaml');

  beforeAll(async () => {
    a = await new Upstream('a').start();
    b = await new Upstream('b').start();
    // A port nothing listens on (bound, then released).
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    config = {
      version: 1,
      tenants: [
        {
          name: 'gwp',
          provider_key: 'gwp-provider-key',
          services: [
            svc('9801', 'shop-a', a.url, { hosts: ['shared.test'], path_prefix: '/a' }),
            svc('9802', 'shop-b', b.url, { hosts: ['shared.test'], path_prefix: '/b/' }),
            svc('9803', 'shop-root', b.url, { hosts: ['shared.test'] }),
            svc('9804', 'edge', a.url, { hosts: ['edge.test'], policies: EDGE_POLICIES }),
            svc('9805', 'down', `http://127.0.0.1:${closedPort}`, { hosts: ['down.test'] }),
            svc('9806', 'slow', a.url, {
              hosts: ['slow.test'],
              policies: [{ name: 'upstream_connection', configuration: { read_timeout: 0.5 } }],
            }),
          ],
          accounts: [
            {
              name: 'Dev',
              applications: [
                { name: 'A', service: 'shop-a', plan: 'basic', user_key: 'ka' },
                { name: 'B', service: 'shop-b', plan: 'basic', user_key: 'kb' },
                { name: 'R', service: 'shop-root', plan: 'basic', user_key: 'kr' },
                { name: 'E', service: 'edge', plan: 'basic', user_key: 'ke' },
                { name: 'D', service: 'down', plan: 'basic', user_key: 'kd' },
                { name: 'S', service: 'slow', plan: 'basic', user_key: 'ks' },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(file, JSON.stringify(config));
    p = await startTollgate(
      ['--data-dir', dir, '--config', file, '--roles', 'gateway', '--gateway-port', '0'],
      {},
      ['gateway'],
    );
    gw = `http://127.0.0.1:${p.ports.gateway}`;
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
    await a?.close();
    await b?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (
    path: string,
    host: string,
    opts: { method?: string; headers?: Record<string, string> } = {},
  ) => {
    const res = await request(`${gw}${path}`, {
      method: (opts.method ?? 'GET') as 'GET',
      headers: { host, ...opts.headers },
    });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body };
  };
  const upstreamOf = async (path: string, host = 'shared.test') => {
    const r = await call(path, host);
    expect(r.status, r.body).toBe(200);
    return JSON.parse(r.body) as { upstream: string; url: string };
  };

  it('routes by Host, then by the longest path prefix on segment boundaries', async () => {
    expect(await upstreamOf('/a/items?user_key=ka')).toMatchObject({
      upstream: 'a',
      url: '/a/items?user_key=ka',
    });
    expect(await upstreamOf('/a?user_key=ka')).toMatchObject({ upstream: 'a' });
    expect(await upstreamOf('/b/x?user_key=kb')).toMatchObject({ upstream: 'b', url: '/b/x?user_key=kb' });
    // `/ab` is not under `/a`: the service without a prefix answers it (with its own credentials).
    expect(await upstreamOf('/ab?user_key=kr')).toMatchObject({ upstream: 'b', url: '/ab?user_key=kr' });
    // Each prefix is its own service: another service's key is refused.
    expect((await call('/a/items?user_key=kb', 'shared.test')).status).toBe(403);
    expect((await call('/b/items?user_key=ka', 'shared.test')).status).toBe(403);
  });

  it('answers 502 when the upstream cannot be reached and 504 when it is too slow', async () => {
    const down = await call('/x?user_key=kd', 'down.test');
    expect(down.status).toBe(502);
    expect(JSON.parse(down.body).code).toBe('upstream_unreachable');
    const slow = await call('/slow?ms=3000&user_key=ks', 'slow.test');
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.body).code).toBe('upstream_timeout');
    expect((await call('/slow?ms=1&user_key=ks', 'slow.test')).status).toBe(200);
  });

  it('runs the chain: preflight, rewrite, response headers, edge limit, access log', async () => {
    const pre = await call('/old/x', 'edge.test', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example.com');
    for (let i = 0; i < 2; i++) {
      const r = await call('/old/x?user_key=ke', 'edge.test', {
        headers: { origin: 'https://app.example.com' },
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).url).toBe('/new/x?user_key=ke');
      expect(r.headers['x-served-by']).toBe('tollgate');
      expect(r.headers['access-control-allow-origin']).toBe('https://app.example.com');
    }
    const over = await call('/old/x?user_key=ke', 'edge.test');
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // Lines reach the process's stdout a little after the answers (written on the response's 'close').
    const accessLines = () =>
      p
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"access"'))
        .map((l) => JSON.parse(l));
    for (let i = 0; i < 100 && accessLines().length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    const access = accessLines();
    expect(access.map((l) => [l.service, l.method, l.path, l.status])).toEqual([
      ['9804', 'OPTIONS', '/old/x', 204],
      ['9804', 'GET', '/old/x', 200],
      ['9804', 'GET', '/old/x', 200],
      ['9804', 'GET', '/old/x', 429],
    ]);
    expect(p.output()).not.toContain('user_key=ke');
  });

  it('takes a policy applied to the running gateway', async () => {
    const next = structuredClone(config) as { tenants: { services: Record<string, unknown>[] }[] };
    next.tenants[0]!.services[0]!.policies = [
      { name: 'maintenance_mode', configuration: { message: 'down' } },
    ];
    const changed = join(dir, 'maint.yaml');
    writeFileSync(changed, JSON.stringify(next));
    const applied = await runCli(['apply', '-f', changed, '--data-dir', dir]);
    expect(applied.code, applied.stderr).toBe(0);
    const started = Date.now();
    let r = await call('/a/items?user_key=ka', 'shared.test');
    while (r.status !== 503 && Date.now() - started < 5000) {
      await new Promise((res) => setTimeout(res, 50));
      r = await call('/a/items?user_key=ka', 'shared.test');
    }
    expect([r.status, r.body]).toEqual([503, 'down']);
    // A bad policy is refused by apply; the gateway keeps serving the last good config.
    next.tenants[0]!.services[0]!.policies = [{ name: 'retry', configuration: { retries: 99 } }];
    writeFileSync(changed, JSON.stringify(next));
    const refused = await runCli(['apply', '-f', changed, '--data-dir', dir]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toContain(
      'tenants[0].services[0].policies[0].configuration.retries: must be at most 10',
    );
    expect((await call('/a/items?user_key=ka', 'shared.test')).status).toBe(503);
  });

  it('exports policies as applied, and applying the export changes nothing', async () => {
    const exported = await runCli(['export', '--data-dir', dir]);
    expect(exported.code, exported.stderr).toBe(0);
    const doc = parse(exported.stdout) as {
      tenants: { services: { system_name: string; policies?: unknown }[] }[];
    };
    const edge = doc.tenants[0]!.services.find((s) => s.system_name === 'edge')!;
    expect(edge.policies).toEqual(EDGE_POLICIES);
    const out = join(dir, 'export.yaml');
    writeFileSync(out, exported.stdout);
    const again = await runCli(['apply', '-f', out, '--data-dir', dir]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('no changes');
  });
});
