// Exactness across processes: three backend processes share one Redis (and PostgreSQL); N concurrent
// authreps against a limit L admit exactly min(N, L).

import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Started, startTollgate } from '../support/proc.js';
import { hasPostgres, hasRedis, PG_URL, REDIS_URL, uniqueName } from '../support/services.js';
import { get } from './http.js';

const FIXTURE = fileURLToPath(new URL('./limits.yaml', import.meta.url));

describe.skipIf(!hasPostgres || !hasRedis)('three backend processes on one Redis', () => {
  const schema = uniqueName('mp');
  const prefix = `${uniqueName('mp')}:`;
  const env = { DATABASE_URL: PG_URL, TOLLGATE_PG_SCHEMA: schema, REDIS_URL, TOLLGATE_REDIS_PREFIX: prefix };
  const procs: Started[] = [];

  let admin: Started;

  beforeAll(async () => {
    const applied = await runCli(['apply', '-f', FIXTURE], env);
    expect(applied.code, applied.stderr).toBe(0);
    for (let i = 0; i < 3; i++) {
      procs.push(await startTollgate(['--roles', 'backend', '--backend-port', '0'], env, ['backend']));
    }
    admin = await startTollgate(['--roles', 'admin,worker', '--admin-port', '0'], env, ['admin']);
    procs.push(admin);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('admits exactly 100 of 300 concurrent authreps against an eternity limit of 100', async () => {
    const url = (port: number) =>
      `http://127.0.0.1:${port}/transactions/authrep.xml?provider_key=itest-provider-key&service_id=7001&user_key=itest-key&usage%5Bsearch%5D=1`;
    const calls = Array.from({ length: 300 }, (_, i) => get(url(procs[i % 3]!.ports.backend!)));
    // (procs[3] is the admin process)
    const results = await Promise.all(calls);
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 409)).toHaveLength(200);
    const denied = results.find((r) => r.status === 409)!;
    expect(denied.body).toContain('<reason>usage limits are exceeded</reason>');
    // Every process now sees the limit as reached.
    for (const p of procs.slice(0, 3)) {
      const r = await get(
        `http://127.0.0.1:${p.ports.backend}/transactions/authorize.xml?provider_key=itest-provider-key&service_id=7001&user_key=itest-key&usage%5Bhits%5D=1`,
      );
      expect(r.status).toBe(409);
      expect(r.body).toContain('<current_value>100</current_value>');
    }
  });

  it('an admin API change reaches every backend within 5 s, and a signed webhook announces it', async () => {
    const received: { body: string; signature: string }[] = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push({ body, signature: String(req.headers['tollgate-signature'] ?? '') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const api = `http://127.0.0.1:${admin.ports.admin}/admin/api`;
    const headers = { authorization: 'Bearer itest-admin-token', 'content-type': 'application/json' };
    try {
      const hook = (await (
        await fetch(`${api}/webhooks`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
            events: ['application.*'],
          }),
        })
      ).json()) as { secret: string };
      const apps = (await (await fetch(`${api}/applications`, { headers })).json()) as {
        items: { id: string }[];
      };
      const appId = apps.items[0]!.id;
      const started = Date.now();
      expect((await fetch(`${api}/applications/${appId}/suspend`, { method: 'POST', headers })).status).toBe(
        200,
      );
      for (const p of procs.slice(0, 3)) {
        let body = '';
        while (Date.now() - started < 5000) {
          body = (
            await get(
              `http://127.0.0.1:${p.ports.backend}/transactions/authorize.xml?provider_key=itest-provider-key&service_id=7001&user_key=itest-key`,
            )
          ).body;
          if (body.includes('application is not active')) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(body).toContain('<reason>application is not active</reason>');
      }
      while (received.length === 0 && Date.now() - started < 15_000)
        await new Promise((r) => setTimeout(r, 100));
      const event = received.find((e) => e.body.includes('application.suspended'));
      expect(event, 'webhook delivered').toBeDefined();
      const [t, v1] = event!.signature.split(',').map((x) => x.split('=')[1]);
      const expected = createHmac('sha256', hook.secret).update(`${t}.${event!.body}`).digest('hex');
      expect(v1).toBe(expected);
      expect(JSON.parse(event!.body)).toMatchObject({ type: 'application.suspended' });
    } finally {
      receiver.close();
    }
  });
});
