// Exactness across processes: three backend processes share one Redis (and PostgreSQL); N concurrent
// authreps against a limit L admit exactly min(N, L).

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

  beforeAll(async () => {
    const applied = await runCli(['apply', '-f', FIXTURE], env);
    expect(applied.code, applied.stderr).toBe(0);
    for (let i = 0; i < 3; i++) {
      procs.push(await startTollgate(['--roles', 'backend', '--backend-port', '0'], env, ['backend']));
    }
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
    const results = await Promise.all(calls);
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 409)).toHaveLength(200);
    const denied = results.find((r) => r.status === 409)!;
    expect(denied.body).toContain('<reason>usage limits are exceeded</reason>');
    // Every process now sees the limit as reached.
    for (const p of procs) {
      const r = await get(
        `http://127.0.0.1:${p.ports.backend}/transactions/authorize.xml?provider_key=itest-provider-key&service_id=7001&user_key=itest-key&usage%5Bhits%5D=1`,
      );
      expect(r.status).toBe(409);
      expect(r.body).toContain('<current_value>100</current_value>');
    }
  });
});
