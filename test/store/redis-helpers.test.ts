/** Redis plumbing: prefix rules, EVALSHA with NOSCRIPT fallback, key sweeping, and no leaked keys. */
import { afterEach, describe, expect, it } from 'vitest';
import { RedisAuthView } from '../../src/store/authview/redis.js';
import { deleteAllKeys, LuaScript, openRedis, type Redis } from '../../src/store/redis.js';
import { RedisUsageLog } from '../../src/store/usagelog/redis.js';
import { fullSnapshot } from '../contract/authview.contract.js';
import { type RedisSpace, redisSpace, sleep } from '../contract/fixtures.js';
import { hasRedis, REDIS_URL, uniqueName } from '../support/services.js';

describe('openRedis', () => {
  it('refuses a key prefix with braces (it would override the hash tags)', () => {
    expect(() => openRedis(REDIS_URL, { keyPrefix: 'x{y}:' })).toThrow(/must not contain/);
  });
});

describe.skipIf(!hasRedis)('Redis helpers', () => {
  const spaces: RedisSpace[] = [];
  const clients: Redis[] = [];
  const space = () => {
    const s = redisSpace();
    spaces.push(s);
    return s;
  };
  const connect = (s: RedisSpace) => {
    const c = s.connect();
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const s of spaces.splice(0)) await s.drop();
  });

  it('loads a script the server does not know, then runs it by SHA', async () => {
    const c = connect(space());
    // A source no server has seen (random comment), so the first EVALSHA meets NOSCRIPT.
    const script = new LuaScript(`-- ${uniqueName('s')}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`);
    expect(await c.script('EXISTS', script.sha)).toEqual([0]);
    expect(await script.run(c, ['n'], [2])).toBe(2);
    expect(await c.script('EXISTS', script.sha)).toEqual([1]);
    expect(await script.run(c, ['n'], [3])).toBe(5);
    expect(await c.get('n')).toBe('5');
  });

  it('deletes the keys of its own prefix only', async () => {
    const a = connect(space());
    const b = connect(space());
    await a.mset('k1', '1', 'k2', '2');
    await b.set('k1', 'b');
    expect(await deleteAllKeys(a)).toBe(2);
    expect(await a.exists('k1', 'k2')).toBe(0);
    expect(await b.get('k1')).toBe('b');
  });

  it('leaves no auth view keys behind once every tenant is deleted', async () => {
    const s = space();
    const probe = connect(s);
    const view = await RedisAuthView.open(s.connect());
    await view.syncTenant(fullSnapshot('ta'));
    await view.syncTenant(fullSnapshot('tb'));
    expect((await probe.keys(`${s.prefix}*`)).length).toBeGreaterThan(10);
    await view.deleteTenant('ta');
    await view.deleteTenant('tb');
    expect(await probe.keys(`${s.prefix}*`)).toEqual([]);
    await view.close();
  });

  it('ends a blocked read with no entries when the log is closed', async () => {
    const log = new RedisUsageLog(space().connect());
    const blocked = log.read('reports', 'g', 'c', 10, 20_000);
    await sleep(100);
    await log.close();
    expect(await blocked).toEqual([]);
  });
});
