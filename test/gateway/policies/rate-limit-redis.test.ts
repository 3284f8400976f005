// Edge rate limits shared in Redis by two gateways of one deployment (real Redis, own key prefix), and
// the local fallbacks: no REDIS_URL, and Redis unreachable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteAllKeys, openRedis, type Redis } from '../../../src/store/redis.js';
import { hasRedis, REDIS_URL, uniqueName } from '../../support/services.js';
import { docOf, type Gateway, service, startGateway, Upstream } from './harness.js';

describe.skipIf(!hasRedis)('rate_limit with storage redis', () => {
  const prefix = `${uniqueName('edge')}:`;
  let up: Upstream;
  let one: Gateway;
  let two: Gateway;
  let lonely: Gateway;
  let broken: Gateway;
  let redis: Redis;

  beforeAll(async () => {
    up = await new Upstream('u').start();
    const doc = docOf([
      service('21', 'fixed.test', up.url, [
        {
          name: 'rate_limit',
          configuration: {
            storage: 'redis',
            fixed_window_limiters: [{ key: { by: 'ip' }, count: 5, window: 3600 }],
          },
        },
      ]),
      service('22', 'bucket.test', up.url, [
        {
          name: 'rate_limit',
          configuration: {
            storage: 'redis',
            token_bucket_limiters: [{ key: { by: 'credential' }, rate: 0.001, burst: 3 }],
          },
        },
      ]),
    ]);
    one = await startGateway(doc, { redis: { url: REDIS_URL, keyPrefix: prefix } });
    two = await startGateway(doc, { redis: { url: REDIS_URL, keyPrefix: prefix }, store: one.store });
    lonely = await startGateway(doc); // no REDIS_URL
    broken = await startGateway(doc, { redis: { url: 'redis://127.0.0.1:1', keyPrefix: prefix } });
    redis = openRedis(REDIS_URL, { keyPrefix: prefix });
  }, 60_000);

  afterAll(async () => {
    await two?.close();
    await one?.close();
    await lonely?.close();
    await broken?.close();
    if (redis) {
      await deleteAllKeys(redis);
      redis.disconnect();
    }
    await up?.close();
  });

  const statuses = async (gws: Gateway[], n: number, path: string, host: string) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await gws[i % gws.length]!.send(path, { host })).status);
    return out;
  };

  it('fixed window: two gateways share one count', async () => {
    const s = await statuses([one, two], 12, '/x?user_key=key-21', 'fixed.test');
    expect(s.filter((x) => x === 200)).toHaveLength(5);
    expect(s.slice(5).every((x) => x === 429)).toBe(true);
    const keys = await redis.keys(`${prefix}edge-rl:21:*`);
    expect(keys.length).toBeGreaterThan(0);
    // The key names no client address in clear.
    expect(keys.join(' ')).not.toContain('127.0.0.1');
  });

  it('token bucket: two gateways share one bucket', async () => {
    const s = await statuses([one, two], 8, '/x?user_key=key-22', 'bucket.test');
    expect(s.filter((x) => x === 200)).toHaveLength(3);
    const over = await one.send('/x?user_key=key-22', { host: 'bucket.test' });
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('without REDIS_URL: counts in the process and says so once', async () => {
    const s = await statuses([lonely], 7, '/x?user_key=key-21', 'fixed.test');
    expect(s).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(lonely.logs.filter((l) => String(l.msg).includes('REDIS_URL is not set'))).toHaveLength(1);
  });

  it('Redis unreachable: counts in the process and logs it (throttled)', async () => {
    const s = await statuses([broken], 7, '/x?user_key=key-21', 'fixed.test');
    expect(s).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(broken.logs.filter((l) => String(l.msg).includes('Redis unavailable'))).toHaveLength(1);
  }, 30_000);
});
