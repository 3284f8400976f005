// Three gateway processes on one Redis (and one PostgreSQL): under 4× overload, `strict` and `leased`
// admit exactly the limit L, and the shared counter ends at L (leases returned at shutdown); `batched`
// admits at least L and at most its documented bound (N × L for N gateways), and counts all it admitted.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Started, startTollgate } from '../support/proc.js';
import { hasPostgres, hasRedis, PG_URL, REDIS_URL, uniqueName } from '../support/services.js';

const L = 60;
const N = 3;
const MODES = [
  { mode: 'strict', id: '7301', extra: '' },
  { mode: 'leased', id: '7302', extra: '' },
  { mode: 'batched', id: '7303', extra: ', flush_ms: 200' },
] as const;

function config(upstreamPort: number): string {
  const services = MODES.map(
    (m) => `      - id: "${m.id}"
        system_name: ${m.mode}
        upstream: http://127.0.0.1:${upstreamPort}
        hosts: [${m.mode}.cluster.test]
        auth: { mode: user_key }
        authorization: { mode: ${m.mode}, on_store_failure: deny, store_timeout_ms: 3000${m.extra} }
        metrics:
          - { system_name: hits }
        mapping_rules:
          - { method: GET, pattern: "/", metric: hits, delta: 1 }
        plans:
          - { system_name: capped, name: Capped, limits: { hits: { eternity: ${L} } } }`,
  ).join('\n');
  const apps = MODES.map(
    (m) => `          - { name: ${m.mode} app, service: ${m.mode}, plan: capped, user_key: key-${m.mode} }`,
  ).join('\n');
  return `version: 1
tenants:
  - name: cluster
    provider_key: cluster-provider-key
    services:
${services}
    accounts:
      - name: Cluster Co
        applications:
${apps}
`;
}

describe.skipIf(!hasPostgres || !hasRedis)(`${N} gateway processes on one Redis`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  const schema = uniqueName('gwc');
  const prefix = `${uniqueName('gwc')}:`;
  const env = { DATABASE_URL: PG_URL, TOLLGATE_PG_SCHEMA: schema, REDIS_URL, TOLLGATE_REDIS_PREFIX: prefix };
  const gws: Started[] = [];
  const seen = new Map<string, number>();
  let upstream: http.Server;
  const agent = new Agent({ connections: 256 });
  const redis = new Redis(REDIS_URL, { keyPrefix: prefix });

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      const host = String(req.headers['x-forwarded-host'] ?? req.headers.host);
      seen.set(host, (seen.get(host) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, config((upstream.address() as AddressInfo).port));
    const applied = await runCli(['apply', '-f', file], env);
    expect(applied.code, applied.stderr).toBe(0);
    const started = await Promise.all(
      Array.from({ length: N }, () =>
        startTollgate(['--roles', 'gateway', '--gateway-port', '0'], env, ['gateway']),
      ),
    );
    gws.push(...started);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(gws.map((p) => p.stop()));
    upstream?.close();
    await agent.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    redis.disconnect();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  });

  /** 4 L concurrent calls, round-robin over the gateways: the statuses. */
  async function overload(mode: string): Promise<number[]> {
    const calls = Array.from({ length: 4 * L }, async (_, i) => {
      const port = gws[i % N]!.ports.gateway!;
      const res = await request(`http://127.0.0.1:${port}/items?user_key=key-${mode}`, {
        headers: { host: `${mode}.cluster.test` },
        dispatcher: agent,
      });
      await res.body.text();
      return res.statusCode;
    });
    return Promise.all(calls);
  }

  /** The service's hits counter in the shared Redis (its only counted key). */
  async function counter(serviceId: string): Promise<number> {
    const keys = await redis.keys(`${prefix}c:{${serviceId}:*`);
    expect(keys).toHaveLength(1);
    return Number(await redis.get(keys[0]!.slice(prefix.length)));
  }

  const results = new Map<string, number[]>();

  it('strict admits exactly L', async () => {
    const statuses = await overload('strict');
    results.set('strict', statuses);
    expect(statuses.filter((s) => s === 200)).toHaveLength(L);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3 * L);
    expect(seen.get('strict.cluster.test')).toBe(L);
    expect(await counter('7301')).toBe(L);
  });

  it('leased admits exactly L', async () => {
    const statuses = await overload('leased');
    results.set('leased', statuses);
    expect(statuses.filter((s) => s === 200)).toHaveLength(L);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3 * L);
    expect(seen.get('leased.cluster.test')).toBe(L);
    // Never past the limit, even while leases are held.
    expect(await counter('7302')).toBeLessThanOrEqual(L);
  });

  it(`batched admits at least L and at most ${N} × L, and stops once the gateways have flushed`, async () => {
    const statuses = await overload('batched');
    results.set('batched', statuses);
    const admitted = statuses.filter((s) => s === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(L);
    expect(admitted).toBeLessThanOrEqual(N * L);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4 * L - admitted);
    expect(seen.get('batched.cluster.test')).toBe(admitted);
    await new Promise((r) => setTimeout(r, 1000)); // a few flush intervals
    expect(await counter('7303')).toBe(admitted);
    const more = await overload('batched');
    expect(more.every((s) => s === 429)).toBe(true);
  });

  it('after shutdown the counters equal what was admitted (leases returned, batches written)', async () => {
    const codes = await Promise.all(gws.map((p) => p.stop()));
    expect(codes).toEqual([0, 0, 0]);
    expect(await counter('7301')).toBe(L);
    expect(await counter('7302')).toBe(L);
    expect(await counter('7303')).toBe(results.get('batched')!.filter((s) => s === 200).length);
  });
});
