/**
 * The quota face of the Redis counters (same keys as RedisCounterStore), one Lua script per call.
 *
 * Guarantees:
 * - GRANT: for each ask, in one script, `granted = max(0, min(want, max − counter))` and the counter is
 *   raised by exactly `granted`. The counter after a grant is `counter + granted ≤ max`; scripts run one
 *   at a time, so no interleaving of any number of gateways' grants (or of strict check-and-count plans,
 *   which also refuse to pass `max`) can take a counter past its limit.
 * - RELEASE lowers a counter by at most its value, never below 0, and never creates one.
 * - APPLY applies a batch of increments at most once per (owner, seq), so a batch re-sent after a
 *   timeout is not counted twice.
 * This connection does not queue commands while Redis is unreachable (`enableOfflineQueue: false`): a
 * call then fails at once instead of waiting, and nothing sent during an outage runs later by surprise.
 */
import { LuaScript, openRedis, quitQuietly, type Redis } from '../redis.js';
import {
  type LeaseAnswer,
  type LeaseAsk,
  type LeaseReturn,
  OWNER_TTL_MS,
  type QuotaBatch,
  type QuotaStore,
} from './lease-port.js';

/**
 * KEYS: the counters. ARGV[1]: now (epoch ms, the caller's clock); then 3 per key: max, want, expireAt.
 * Reply: 2 integers per key: granted, counter after the grant.
 */
const GRANT = new LuaScript(`
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local a = 2 + (i - 1) * 3
  local max, want, exp = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local used = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local g = max - used
  if g > want then g = want end
  if g < 0 or (exp ~= 0 and exp <= now) then g = 0 end
  g = math.floor(g)
  if g > 0 then
    if redis.call('INCRBY', KEYS[i], g) == g and exp ~= 0 then redis.call('PEXPIREAT', KEYS[i], exp) end
  end
  out[2 * i - 1] = g
  out[2 * i] = used + g
end
return out
`);

/** KEYS: the counters. ARGV: one unit count per key. */
const RELEASE = new LuaScript(`
for i = 1, #KEYS do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local u = tonumber(ARGV[i])
  if u > v then u = v end
  if u > 0 then redis.call('DECRBY', KEYS[i], u) end
end
return 1
`);

/**
 * KEYS: the incremented counters, then the read-only ones, then the owner's sequence key (last).
 * ARGV[1]: seq, ARGV[2]: owner key TTL (ms), ARGV[3]: now, ARGV[4]: number of increments; then 2 per
 * increment (value, expireAt), in KEYS order. Reply: the values of every key but the last.
 */
const APPLY = new LuaScript(`
local seqKey = KEYS[#KEYS]
local seq = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local last = tonumber(redis.call('GET', seqKey) or '0') or 0
if seq > last then
  for i = 1, n do
    local v, exp = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
    if v ~= 0 and (exp == 0 or exp > now) then
      if redis.call('INCRBY', KEYS[i], v) == v and exp ~= 0 then redis.call('PEXPIREAT', KEYS[i], exp) end
    end
  end
  redis.call('SET', seqKey, seq, 'PX', tonumber(ARGV[2]))
end
local out = {}
for i = 1, #KEYS - 1 do out[i] = tonumber(redis.call('GET', KEYS[i]) or '0') or 0 end
return out
`);

function ints(reply: unknown, n: number): number[] {
  if (!Array.isArray(reply) || reply.length !== n) throw new Error('unexpected reply from a quota script');
  return reply.map((v) => Number(v));
}

export interface RedisQuotaOptions {
  readonly keyPrefix: string;
  /** Longest wait for the connection at start (ms, default 5000). */
  readonly connectTimeoutMs?: number;
}

export class RedisQuotaStore implements QuotaStore {
  readonly local = false;

  /** Takes ownership of `client` (close() quits it). Prefer `connect`. */
  constructor(private readonly client: Redis) {}

  /** Opens the store's own connection (no offline queue, see the module comment) and waits until it is up. */
  static async connect(url: string, opts: RedisQuotaOptions): Promise<RedisQuotaStore> {
    const client = openRedis(url, {
      keyPrefix: opts.keyPrefix,
      client: {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: opts.connectTimeoutMs ?? 5000,
        // Reconnect quickly and keep trying: the gateway decides without the store meanwhile.
        retryStrategy: (times) => Math.min(50 * times, 1000),
      },
    });
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw err;
    }
    return new RedisQuotaStore(client);
  }

  async grant(asks: readonly LeaseAsk[]): Promise<LeaseAnswer[]> {
    if (asks.length === 0) return [];
    const args: (string | number)[] = [Date.now()];
    for (const a of asks) args.push(a.max, a.want, a.expireAt);
    const r = ints(
      await GRANT.run(
        this.client,
        asks.map((a) => a.key),
        args,
      ),
      asks.length * 2,
    );
    return asks.map((_, i) => ({ granted: r[2 * i]!, used: r[2 * i + 1]! }));
  }

  async release(returns: readonly LeaseReturn[]): Promise<void> {
    const now = Date.now();
    const live = returns.filter((r) => r.units > 0 && (r.expireAt === 0 || r.expireAt > now));
    if (live.length === 0) return;
    await RELEASE.run(
      this.client,
      live.map((r) => r.key),
      live.map((r) => r.units),
    );
  }

  async apply(batch: QuotaBatch): Promise<number[]> {
    for (const w of batch.increments) {
      if (!Number.isSafeInteger(w.value))
        throw new Error(`redis counters increment by integers only, got ${w.value}`);
    }
    const keys = [...batch.increments.map((w) => w.key), ...batch.reads, batch.ownerKey];
    const args: (string | number)[] = [batch.seq, OWNER_TTL_MS, Date.now(), batch.increments.length];
    for (const w of batch.increments) args.push(w.value, w.expireAt);
    return ints(await APPLY.run(this.client, keys, args), keys.length - 1);
  }

  async read(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const raw = await this.client.mget(...keys);
    if (!Array.isArray(raw) || raw.length !== keys.length) throw new Error('unexpected reply to MGET');
    return raw.map((v) => (v === null ? 0 : Number(v)));
  }

  async close(): Promise<void> {
    await quitQuietly(this.client);
  }
}
