// Redis stopped mid-run under a gateway: `on_store_failure: deny` services answer 503 (quickly, once the
// circuit breaker is open), `allow` services keep forwarding, the process stays up; Redis back on the
// same port (with its data): the breaker closes and counting resumes.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Started, startTollgate } from '../support/proc.js';
import { hasRedis, uniqueName } from '../support/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Our own redis-server (never the shared one): RDB file in `dir`, no automatic saves. */
async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const started = Date.now();
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() - started > 10_000) throw new Error('redis-server did not start');
    await sleep(50);
  }
  // Loading the RDB file takes a moment after the port opens: wait for PING.
  const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 20 });
  await c.connect();
  while ((await c.ping().catch(() => 'LOADING')) !== 'PONG') await sleep(50);
  c.disconnect();
  return child;
}

const SERVICES = [
  { name: 'strict-deny', id: '7401', authz: '{ mode: strict, on_store_failure: deny }' },
  { name: 'strict-allow', id: '7402', authz: '{ mode: strict, on_store_failure: allow }' },
  { name: 'batched-deny', id: '7403', authz: '{ mode: batched, on_store_failure: deny, flush_ms: 100 }' },
  { name: 'leased-allow', id: '7404', authz: '{ mode: leased, on_store_failure: allow, lease_size: 3 }' },
] as const;

function config(upstreamPort: number): string {
  const services = SERVICES.map(
    (s) => `      - id: "${s.id}"
        system_name: ${s.name}
        upstream: http://127.0.0.1:${upstreamPort}
        hosts: [${s.name}.failure.test]
        auth: { mode: user_key }
        authorization: ${s.authz}
        metrics:
          - { system_name: hits }
        mapping_rules:
          - { method: GET, pattern: "/", metric: hits, delta: 1 }
        plans:
          - { system_name: big, name: Big, limits: { hits: { eternity: 100000 } } }`,
  ).join('\n');
  const apps = SERVICES.map(
    (s) => `          - { name: ${s.name} app, service: ${s.name}, plan: big, user_key: key-${s.name} }`,
  ).join('\n');
  return `version: 1
tenants:
  - name: failure
    provider_key: failure-provider-key
    services:
${services}
    accounts:
      - name: Failure Co
        applications:
${apps}
`;
}

describe.skipIf(!hasRedis)('Redis stopped under a gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-storefail-'));
  const prefix = `${uniqueName('gwf')}:`;
  let redisPort = 0;
  let redis: ChildProcess | null = null;
  let upstream: http.Server;
  let gw: Started;
  const seen = new Map<string, number>();

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      const host = String(req.headers['x-forwarded-host'] ?? '');
      seen.set(host, (seen.get(host) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    redisPort = await freePort();
    redis = await startRedis(redisPort, dir);
    writeFileSync(join(dir, 'gw.yaml'), config((upstream.address() as AddressInfo).port));
    gw = await startTollgate(
      ['--data-dir', dir, '--config', join(dir, 'gw.yaml'), '--roles', 'gateway', '--gateway-port', '0'],
      { REDIS_URL: `redis://127.0.0.1:${redisPort}`, TOLLGATE_REDIS_PREFIX: prefix },
      ['gateway'],
    );
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    if (redis !== null && redis.exitCode === null) {
      redis.kill('SIGKILL');
      await once(redis, 'exit');
    }
    upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (service: string) => {
    const res = await request(`http://127.0.0.1:${gw.ports.gateway}/x?user_key=key-${service}`, {
      headers: { host: `${service}.failure.test` },
    });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const statuses = async (service: string, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await call(service)).status);
    return out;
  };
  const counter = async (serviceId: string) => {
    const c = new Redis(redisPort, '127.0.0.1', { keyPrefix: prefix });
    try {
      const keys = await c.keys(`${prefix}c:{${serviceId}:*`);
      return keys.length === 0 ? 0 : Number(await c.get(keys[0]!.slice(prefix.length)));
    } finally {
      c.disconnect();
    }
  };
  const failuresLogged = () =>
    gw
      .output()
      .split('\n')
      .filter((l) => l.includes('gateway store failure')).length;

  it('serves every mode while Redis is up', async () => {
    for (const s of SERVICES) expect(await statuses(s.name, 3)).toEqual([200, 200, 200]);
    expect(await counter('7401')).toBe(3);
  });

  it('Redis killed: deny answers 503 (the breaker opens), allow forwards, the gateway stays up', async () => {
    const c = new Redis(redisPort, '127.0.0.1');
    await c.save(); // what is counted so far survives the restart
    c.disconnect();
    redis!.kill('SIGKILL');
    await once(redis!, 'exit');
    redis = null;
    await sleep(300); // batched values are now older than 2 × flush_ms

    const started = performance.now();
    const deny = await statuses('strict-deny', 50);
    const elapsed = performance.now() - started;
    expect(deny.every((s) => s === 503)).toBe(true);
    expect((await call('strict-deny')).body).toBe('Service Unavailable');
    // Only the calls that opened the breaker (and a probe per cool-down) reached the store.
    expect(failuresLogged()).toBeLessThan(20);
    expect(gw.output()).toContain('"state":"open"');
    expect(elapsed).toBeLessThan(20_000); // sanity only: 50 calls did not each wait a timeout and more

    expect(await statuses('batched-deny', 10)).toEqual(Array(10).fill(503));
    const before = seen.get('strict-allow.failure.test') ?? 0;
    expect(await statuses('strict-allow', 10)).toEqual(Array(10).fill(200));
    expect(seen.get('strict-allow.failure.test')).toBe(before + 10);
    expect(await statuses('leased-allow', 10)).toEqual(Array(10).fill(200));

    expect(gw.child.exitCode).toBeNull();
    const health = await request(`http://127.0.0.1:${gw.ports.gateway}/health`);
    await health.body.text();
    expect(health.statusCode).toBe(200);
  });

  it('Redis back on the same port: the breaker closes and counting resumes', async () => {
    redis = await startRedis(redisPort, dir);
    let status = 0;
    const started = Date.now();
    while (Date.now() - started < 20_000) {
      status = (await call('strict-deny')).status;
      if (status === 200) break;
      await sleep(200);
    }
    expect(status).toBe(200);
    const base = await counter('7401');
    expect(await statuses('strict-deny', 3)).toEqual([200, 200, 200]);
    expect(await counter('7401')).toBe(base + 3);
    expect(gw.output()).toContain('"state":"closed"');
    let batched: number[] = [];
    while (Date.now() - started < 20_000) {
      batched = await statuses('batched-deny', 1);
      if (batched[0] === 200) break;
      await sleep(200);
    }
    expect(batched).toEqual([200]);
    expect(gw.child.exitCode).toBeNull();
  });

  it('stops cleanly (no crash, no unhandled rejection); usage admitted under `allow` is counted', async () => {
    expect(await gw.stop()).toBe(0);
    // leased-allow admitted 3 + 10 calls: the units spent from its lease, those admitted without one
    // (counted once Redis was back) and the unspent units returned at shutdown leave exactly that.
    expect(await counter('7404')).toBe(13);
  });
});
