/**
 * RespLane against the real Redis: framing and key prefix, reply types, pipelining order, NOSCRIPT
 * fallback, error replies, broken and unreachable connections, the handshake (SELECT, AUTH), close.
 * Also the Redis counter store on the lane where its reply decoding differs from ioredis's path.
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisCounterStore } from '../../src/store/counters/redis.js';
import { LuaScript } from '../../src/store/redis.js';
import { RespLane, type RespLaneOptions, RespReplyError } from '../../src/store/resp-lane.js';
import { type RedisSpace, redisSpace } from '../contract/fixtures.js';
import { hasRedis, REDIS_URL, uniqueName } from '../support/services.js';

const u = new URL(REDIS_URL);
const server = { host: u.hostname, port: Number(u.port || 6379) };

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('RespLane.fromClient', () => {
  it('takes host, port, credentials, database and key prefix from an ioredis client', () => {
    const c = new Redis('redis://user:secret@10.0.0.7:6400/3', { keyPrefix: 'p:', lazyConnect: true });
    const lane = RespLane.fromClient(c) as unknown as { opts: RespLaneOptions } | null;
    expect(lane?.opts).toMatchObject({
      host: '10.0.0.7',
      port: 6400,
      username: 'user',
      password: 'secret',
      db: 3,
      keyPrefix: 'p:',
    });
    c.disconnect();
  });

  it('declines what it does not do (TLS, Sentinel), so callers keep ioredis', () => {
    const tls = new Redis('rediss://127.0.0.1:6380', { lazyConnect: true });
    const sentinel = new Redis({
      sentinels: [{ host: '127.0.0.1', port: 26379 }],
      name: 'm',
      lazyConnect: true,
    });
    expect(RespLane.fromClient(tls)).toBeNull();
    expect(RespLane.fromClient(sentinel)).toBeNull();
    tls.disconnect();
    sentinel.disconnect();
  });
});

describe.skipIf(!hasRedis)('RespLane', () => {
  const spaces: RedisSpace[] = [];
  const lanes: RespLane[] = [];
  const clients: Redis[] = [];
  const space = () => {
    const s = redisSpace();
    spaces.push(s);
    return s;
  };
  const lane = (opts: RespLaneOptions) => {
    const l = new RespLane({ ...server, ...opts });
    lanes.push(l);
    return l;
  };
  const client = (s: RedisSpace) => {
    const c = s.connect();
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const l of lanes.splice(0)) l.disconnect();
    for (const c of clients.splice(0)) c.disconnect();
    for (const s of spaces.splice(0)) await s.drop();
  });

  const incr = new LuaScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`);

  it('runs a script on prefixed keys, visible to ioredis under the same prefix', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    expect(await l.evalScript(incr, ['n'], ['2'])).toBe(2);
    expect(await l.evalScript(incr, ['n'], ['40'])).toBe(42);
    expect(await client(s).get('n')).toBe('42');
    expect(await l.mget(['n', 'missing'])).toEqual(['42', null]);
  });

  it('answers many pipelined calls in the order they were made', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    const replies = await Promise.all(Array.from({ length: 2000 }, () => l.evalScript(incr, ['seq'], ['1'])));
    expect(replies).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(l.pending).toBe(0);
  });

  it('loads a script the server does not know (NOSCRIPT → EVAL), then runs it by SHA', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    const fresh = new LuaScript(`-- ${uniqueName('s')}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`);
    const probe = client(s);
    expect(await probe.script('EXISTS', fresh.sha)).toEqual([0]);
    // Several calls meet NOSCRIPT in the same batch; each is re-run once, in order, none is lost.
    const first = await Promise.all([1, 2, 3].map(() => l.evalScript(fresh, ['k'], ['1'])));
    expect(first).toEqual([1, 2, 3]);
    expect(await probe.script('EXISTS', fresh.sha)).toEqual([1]);
    expect(await l.evalScript(fresh, ['k'], ['10'])).toBe(13);
  });

  it('decodes every reply type, including multi-byte text and replies split across reads', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    const big = 'x'.repeat(3_000_000); // far larger than one socket read
    const script = new LuaScript(`
      redis.call('SET', KEYS[1], ARGV[1])
      return { 1, -7, ARGV[2], '', false, { 'nested', 3 }, redis.call('GET', KEYS[1]), { ok = 'fine' } }
    `);
    const reply = await l.evalScript(script, ['clé-ü'], [big, 'ünï→😀']);
    expect(reply).toEqual([1, -7, 'ünï→😀', '', null, ['nested', 3], big, 'fine']);
    expect(await client(s).strlen('clé-ü')).toBe(3_000_000);
    expect(await l.call(['PING'])).toBe('PONG');
  });

  it("passes replies through the call's decoder; a decoder that throws rejects that call only", async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    const twice = l.evalScript(incr, ['d'], ['4'], (v) => `got ${v}`);
    const bad = l.evalScript(incr, ['d'], ['1'], () => {
      throw new Error('cannot decode');
    });
    const after = l.evalScript(incr, ['d'], ['1']);
    expect(await twice).toBe('got 4');
    await expect(bad).rejects.toThrow('cannot decode');
    expect(await after).toBe(6);
  });

  it('keeps replies in order when many of them straddle socket reads', async () => {
    const l = lane({});
    const rep = new LuaScript(`return { tonumber(ARGV[1]), string.rep('ab', tonumber(ARGV[1])) }`);
    const sizes = Array.from({ length: 60 }, (_, i) => 1 + ((i * 7919) % 40_000));
    const replies = await Promise.all(sizes.map((n) => l.evalScript(rep, [], [String(n)])));
    expect(replies).toEqual(sizes.map((n) => [n, 'ab'.repeat(n)]));
  });

  it('rejects only the call whose reply is an error', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    const boom = new LuaScript(`return redis.error_reply('BOOM ' .. ARGV[1])`);
    const results = await Promise.allSettled([
      l.evalScript(incr, ['a'], ['1']),
      l.evalScript(boom, [], ['x']),
      l.evalScript(incr, ['a'], ['1']),
      l.call(['NOSUCHCOMMAND']),
      l.evalScript(incr, ['a'], ['1']),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual([1, 2, 3]);
    const err = (results[1] as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(RespReplyError);
    expect((err as Error).message).toBe('BOOM x');
  });

  it('rejects the calls of a broken connection without resending them, and reconnects on the next call', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix, retryDelayMs: 0 });
    const id = await l.call(['CLIENT', 'ID']);
    // A call in flight when the server drops the connection: it is not known whether it ran, so it fails.
    const blocked = l.call(['BLPOP', `${s.prefix}never`, '10']);
    const blockedDone = blocked.catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    await client(s).client('KILL', 'ID', String(id));
    const err = await blockedDone;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/redis connection lost/);
    expect(l.pending).toBe(0);
    expect(await l.evalScript(incr, ['after'], ['5'])).toBe(5);
    expect(await l.call(['CLIENT', 'ID'])).not.toBe(id);
  });

  it('fails fast while Redis is unreachable, and tries again once the retry delay has passed', async () => {
    const l = lane({ host: '127.0.0.1', port: await deadPort(), retryDelayMs: 1000 });
    await expect(l.call(['PING'])).rejects.toThrow(/redis connection lost/);
    // Within the retry delay: no new attempt, the call fails at once.
    await expect(l.call(['PING'])).rejects.toThrow(/redis connection unavailable/);
    await new Promise((r) => setTimeout(r, 1100));
    await expect(l.call(['PING'])).rejects.toThrow(/redis connection lost/);
  });

  it('selects the configured database before any call', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix, db: 1 });
    await l.evalScript(incr, ['in-db1'], ['7']);
    const db1 = new Redis(REDIS_URL, { db: 1, keyPrefix: s.prefix });
    clients.push(db1);
    expect(await db1.get('in-db1')).toBe('7');
    await db1.del('in-db1');
    expect(await client(s).get('in-db1')).toBeNull();
  });

  it('fails the calls when the handshake is refused (AUTH on a server that has no password)', async () => {
    const probe = new Redis(REDIS_URL);
    clients.push(probe);
    const requirepass = (await probe.config('GET', 'requirepass')) as string[];
    if (requirepass[1] !== '') return; // a password-protected test server answers AUTH differently
    const l = lane({ password: 'wrong', retryDelayMs: 0 });
    await expect(l.call(['PING'])).rejects.toThrow(/redis connection lost: .*AUTH/);
  });

  it('close() lets pending calls finish, then refuses new ones', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    const calls = [l.evalScript(incr, ['c'], ['1']), l.evalScript(incr, ['c'], ['1'])];
    await l.close();
    expect(await Promise.all(calls)).toEqual([1, 2]);
    await expect(l.call(['PING'])).rejects.toThrow(/closed/);
  });

  it('close() rejects calls still pending after its grace period instead of hanging', async () => {
    const s = space();
    const l = lane({ keyPrefix: s.prefix });
    const blocked = l.call(['BLPOP', `${s.prefix}never`, '10']).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    await l.close(100);
    expect(((await blocked) as Error).message).toMatch(/closed with calls pending/);
  });
});

describe.skipIf(!hasRedis)('RedisCounterStore on the lane', () => {
  const spaces: RedisSpace[] = [];
  afterEach(async () => {
    for (const s of spaces.splice(0)) await s.drop();
  });

  it('reads set values that are not small integers exactly as ioredis does', async () => {
    const s = redisSpace();
    spaces.push(s);
    const viaLane = new RedisCounterStore(s.connect());
    const viaIoredis = new RedisCounterStore(s.connect(), { lane: false });
    const keys = ['c:{s:a}:m:eternity:0', 'c:{s:a}:n:eternity:0', 'c:{s:a}:o:eternity:0'];
    const values = [2.5, 123456789012345680, -42];
    await viaLane.execute({
      keys,
      checks: [],
      writes: values.map((value, key) => ({ key, value, set: true, expireAt: 0 })),
    });
    const applied = await viaLane.execute({ keys, checks: [], writes: [] });
    expect(applied).toEqual({ status: 'applied', values });
    expect(await viaLane.read(keys)).toEqual(values);
    expect(await viaIoredis.read(keys)).toEqual(values);
    const denied = await viaLane.execute({
      keys,
      checks: [{ key: 2, max: -50, value: 1, set: false }],
      writes: [{ key: 0, value: 1, set: false, expireAt: 0 }],
    });
    expect(denied).toEqual({ status: 'denied', values, failedCheck: 0 });
    await viaLane.close();
    await viaIoredis.close();
  });

  it('surfaces an unreachable Redis as rejected calls, not a hang', async () => {
    const c = new Redis({ host: '127.0.0.1', port: await deadPort(), lazyConnect: true });
    const store = new RedisCounterStore(c);
    await expect(store.read(['c:{s:a}:m:eternity:0'])).rejects.toThrow(/redis connection/);
    await store.close();
  });
});
