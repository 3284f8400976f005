// Gateways take their config from the control plane. Distributed: an admin process and a gateway process
// (PostgreSQL + Redis); changes made through the admin API — a new key, a suspended application, a new
// mapping rule — reach the gateway within 5 s; with the admin process stopped the gateway keeps serving
// its last config. Embedded (one process, every role): a change is seen within 1 s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Started, startTollgate } from '../support/proc.js';
import { hasPostgres, hasRedis, PG_URL, REDIS_URL, uniqueName } from '../support/services.js';

const PLATFORM_TOKEN = 'feed-test-platform-token-0123456789';
const HOST = 'feed.gw.test';

const fixture = (upstreamPort: number) => `version: 1
tenants:
  - name: feed
    provider_key: feed-provider-key
    admin_tokens:
      - { name: ci, value: feed-admin-token }
    services:
      - id: "9911"
        system_name: items
        upstream: http://127.0.0.1:${upstreamPort}
        hosts: [${HOST}]
        auth: { mode: user_key }
        metrics:
          - { system_name: hits }
          - { system_name: list, parent: hits }
        mapping_rules:
          - { method: GET, pattern: "/items$", metric: list, delta: 1 }
        plans:
          - { system_name: basic, name: Basic, limits: { hits: { day: 100000 } } }
    accounts:
      - name: Dev
        applications:
          - { name: App, service: items, plan: basic, user_key: feed-key }
          - { name: Other, service: items, plan: basic, user_key: feed-key-2 }
`;

function upstreamServer(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`upstream saw ${req.url}`);
  });
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () => r({ server, port: (server.address() as AddressInfo).port })),
  );
}

/** Polls `probe` until it answers `status`; fails after `ms`. */
async function seenWithin(ms: number, probe: () => Promise<number>, status: number): Promise<void> {
  const started = Date.now();
  let last = 0;
  while (Date.now() - started < ms) {
    last = await probe();
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`still ${last} after ${ms} ms (wanted ${status})`);
}

function client(base: string, token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await request(`${base}/admin/api${path}`, {
      method: method as 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field by the assertions
    return { status: res.statusCode, json: (text === '' ? null : JSON.parse(text)) as any };
  };
}

type Api = ReturnType<typeof client>;

/** The changes a gateway must see, made through the admin API (each asserts the API accepted it). */
async function addFreshRule(api: Api): Promise<void> {
  const metrics = (await api('GET', '/services/9911/metrics')).json.items as {
    id: string;
    system_name: string;
  }[];
  const rule = await api('POST', '/services/9911/mapping_rules', {
    method: 'GET',
    pattern: '/fresh$',
    metric_id: metrics.find((m) => m.system_name === 'list')!.id,
  });
  expect(rule.status).toBe(201);
}

async function addFreshKey(api: Api): Promise<void> {
  const apps = (await api('GET', '/applications')).json.items as {
    account_id: string;
    service_id: string;
    plan_id: string;
  }[];
  const created = await api('POST', `/accounts/${apps[0]!.account_id}/applications`, {
    name: 'Fresh',
    service_id: apps[0]!.service_id,
    plan_id: apps[0]!.plan_id,
    user_key: 'fresh-key',
  });
  expect(created.status).toBe(201);
}

async function suspendSecondApp(api: Api): Promise<void> {
  const apps = (await api('GET', '/applications')).json.items as { id: string; user_key: string }[];
  const other = apps.find((a) => a.user_key === 'feed-key-2')!;
  expect((await api('POST', `/applications/${other.id}/suspend`)).status).toBe(200);
}

describe.skipIf(!hasPostgres || !hasRedis)('gateway config from the control plane (distributed)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-feed-'));
  const schema = uniqueName('gwfeed');
  const prefix = `${uniqueName('gwfeed')}:`;
  const env = { DATABASE_URL: PG_URL, TOLLGATE_PG_SCHEMA: schema, REDIS_URL, TOLLGATE_REDIS_PREFIX: prefix };
  let upstream: http.Server;
  let admin: Started;
  let gateway: Started;
  let gw = '';
  let api: Api;

  beforeAll(async () => {
    const up = await upstreamServer();
    upstream = up.server;
    writeFileSync(join(dir, 'feed.yaml'), fixture(up.port));
    const applied = await runCli(['apply', '-f', join(dir, 'feed.yaml')], env);
    expect(applied.code, applied.stderr).toBe(0);
    admin = await startTollgate(
      ['--roles', 'admin', '--admin-port', '0', '--data-dir', join(dir, 'admin')],
      { ...env, TOLLGATE_PLATFORM_TOKEN: PLATFORM_TOKEN },
      ['admin'],
    );
    gateway = await startTollgate(
      ['--roles', 'gateway', '--gateway-port', '0', '--data-dir', join(dir, 'gateway')],
      {
        ...env,
        TOLLGATE_CONTROL_PLANE_URL: `http://127.0.0.1:${admin.ports.admin}`,
        TOLLGATE_CONTROL_PLANE_TOKEN: PLATFORM_TOKEN,
      },
      ['gateway'],
    );
    gw = `http://127.0.0.1:${gateway.ports.gateway}`;
    api = client(`http://127.0.0.1:${admin.ports.admin}`, 'feed-admin-token');
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await admin?.stop();
    upstream?.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (path: string) => {
    const res = await request(`${gw}${path}`, { headers: { host: HOST } });
    await res.body.dump();
    return res.statusCode;
  };

  it('serves the services it got from the control plane', async () => {
    expect(await status('/items?user_key=feed-key')).toBe(200);
    expect(await status('/items?user_key=nope')).toBe(403);
    expect(gateway.output()).not.toContain('no gateway config yet');
  });

  it('sees a new key within 5 s', async () => {
    expect(await status('/items?user_key=fresh-key')).toBe(403);
    await addFreshKey(api);
    await seenWithin(5000, () => status('/items?user_key=fresh-key'), 200);
  });

  it('sees a suspended application within 5 s', async () => {
    expect(await status('/items?user_key=feed-key-2')).toBe(200);
    await suspendSecondApp(api);
    await seenWithin(5000, () => status('/items?user_key=feed-key-2'), 403);
  });

  it('sees a new mapping rule within 5 s', async () => {
    expect(await status('/fresh?user_key=feed-key')).toBe(404);
    await addFreshRule(api);
    await seenWithin(5000, () => status('/fresh?user_key=feed-key'), 200);
  });

  it('keeps serving its last config when the control plane is stopped', async () => {
    expect(await admin.stop()).toBe(0);
    await seenWithin(
      10_000,
      async () => {
        const m = await request(`${gw}/metrics`);
        const text = await m.body.text();
        return /^tollgate_gateway_config_source_up\{[^}]*\} 0$/m.test(text) ? 1 : 0;
      },
      1,
    );
    for (let i = 0; i < 5; i++) {
      expect(await status('/items?user_key=feed-key')).toBe(200);
      expect(await status('/fresh?user_key=feed-key')).toBe(200);
      expect(await status('/items?user_key=feed-key-2')).toBe(403);
    }
    // One warning for the outage, not one per retry.
    await new Promise((r) => setTimeout(r, 1500));
    const warnings = gateway
      .output()
      .split('\n')
      .filter((l) => l.includes('config source unreachable'));
    expect(warnings.length, warnings.join('\n')).toBe(1);
  });
});

describe('gateway config, embedded (one process, every role)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-feed-emb-'));
  let upstream: http.Server;
  let p: Started;
  let gw = '';
  let api: Api;

  beforeAll(async () => {
    const up = await upstreamServer();
    upstream = up.server;
    writeFileSync(join(dir, 'feed.yaml'), fixture(up.port));
    p = await startTollgate(
      [
        '--data-dir',
        dir,
        '--config',
        join(dir, 'feed.yaml'),
        '--admin-port',
        '0',
        '--backend-port',
        '0',
        '--gateway-port',
        '0',
      ],
      {},
      ['admin', 'backend', 'gateway'],
    );
    gw = `http://127.0.0.1:${p.ports.gateway}`;
    api = client(`http://127.0.0.1:${p.ports.admin}`, 'feed-admin-token');
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
    upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (path: string) => {
    const res = await request(`${gw}${path}`, { headers: { host: HOST } });
    await res.body.dump();
    return res.statusCode;
  };

  it('sees a new mapping rule, a new key and a suspension within 1 s', async () => {
    expect(await status('/fresh?user_key=feed-key')).toBe(404);
    await addFreshRule(api);
    await seenWithin(1000, () => status('/fresh?user_key=feed-key'), 200);

    await addFreshKey(api);
    await seenWithin(1000, () => status('/items?user_key=fresh-key'), 200);

    await suspendSecondApp(api);
    await seenWithin(1000, () => status('/items?user_key=feed-key-2'), 403);
  });
});
