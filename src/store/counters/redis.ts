/**
 * Redis counter store. Guarantees: every plan runs as ONE Lua script, so its reads, checks, writes and
 * dedupe mark are atomic across every process sharing the Redis; a plan's keys (and dedupe key) share one
 * application's hash tag, so it runs unchanged on Redis Cluster. Expiry is Redis' own (PEXPIREAT); whether a write
 * is already past its window's expiry is judged by the caller's clock. Increments must be integers (INCRBY); a fractional one is a fault.
 * The script and reads go over a dedicated lean connection (RespLane: a third of an authrep's CPU went
 * to ioredis's command path, see docs/benchmarks.md), over ioredis when that connection cannot be used.
 * On the lane, a call whose connection breaks fails and is never resent, so a plan never applies twice.
 */
import type { CounterPlan, CounterResult } from '../../domain/counters.js';
import type { CounterStore } from '../ports.js';
import { LuaScript, quitQuietly, type Redis } from '../redis.js';
import { RespLane } from '../resp-lane.js';

/**
 * KEYS: the plan's keys, then the dedupe key when the plan has one.
 * ARGV[1]: ONE JSON array: nkeys, hasDedupe (1/0), dedupeExpireAt, nchecks, nwrites, now (the caller's
 * clock, epoch ms: writes to windows already expired are skipped, with no TIME call), then 4 numbers per
 * check (key, max, value, set) and 4 entries per write (key, value, set, expireAt), the write's value as
 * a string (SET stores it as given: a Lua number would be reformatted); key indexes are 0-based as in
 * CounterPlan. One argument is cheapest for the client to encode, and cjson (C) decodes it for the
 * script several times faster than a Lua string split.
 * Reply: one comma-separated string: status (0 applied, 1 denied, 2 duplicate), failedCheck (-1 when
 * none), then the raw values.
 */
const EXECUTE = new LuaScript(`
local P = cjson.decode(ARGV[1])
local nkeys = P[1]
local hasDedupe = P[2] == 1
local dedupeExp = P[3]
local nchecks = P[4]
local nwrites = P[5]
local now = P[6]
local raw, values = {}, {}
for i = 1, nkeys do
  raw[i] = redis.call('GET', KEYS[i]) or '0'
  values[i] = tonumber(raw[i]) or 0
end
local function reply(status, failed)
  local out = { status, failed }
  for i = 1, nkeys do out[i + 2] = raw[i] end
  return table.concat(out, ',')
end
if hasDedupe and redis.call('EXISTS', KEYS[nkeys + 1]) == 1 then return reply(2, -1) end
local a = 7
for i = 0, nchecks - 1 do
  local stored = values[P[a] + 1] or 0
  local max, v = P[a + 1], P[a + 2]
  local nextv = v
  if P[a + 3] ~= 1 then nextv = stored + v end
  if nextv > max then return reply(1, i) end
  a = a + 4
end
for i = 1, nwrites do
  local key = KEYS[P[a] + 1]
  local v, set, exp = P[a + 1], P[a + 2] == 1, P[a + 3]
  a = a + 4
  if exp == 0 or exp > now then
    if set and tonumber(v) == 0 then
      redis.call('DEL', key)
    else
      if set then
        redis.call('SET', key, v)
        if exp ~= 0 then redis.call('PEXPIREAT', key, exp) end
      else
        -- A counter key names one window, whose expiry never changes: set it when the key is created.
        if redis.call('INCRBY', key, v) == tonumber(v) and exp ~= 0 then redis.call('PEXPIREAT', key, exp) end
      end
    end
  end
end
if hasDedupe then
  redis.call('SET', KEYS[nkeys + 1], '1')
  if dedupeExp ~= 0 then redis.call('PEXPIREAT', KEYS[nkeys + 1], dedupeExp) end
end
return reply(0, -1)
`);

/** Lua's tonumber does not read JavaScript's `Infinity`; 1e308 compares the same against counters. */
function num(n: number): string {
  if (Number.isNaN(n)) throw new Error('counter plan holds NaN');
  if (n === Number.POSITIVE_INFINITY) return '1e308';
  if (n === Number.NEGATIVE_INFINITY) return '-1e308';
  return String(n);
}

function encodeArgs(plan: CounterPlan): string {
  const d = plan.dedupe;
  let list = `[${plan.keys.length},${d ? 1 : 0},${d ? num(d.expireAt) : 0},${plan.checks.length},${plan.writes.length},${Date.now()}`;
  for (const c of plan.checks) list += `,${c.key},${num(c.max)},${num(c.value)},${c.set ? 1 : 0}`;
  for (const w of plan.writes) {
    if (!w.set && !Number.isSafeInteger(w.value)) {
      throw new Error(`redis counters increment by integers only, got ${w.value}`);
    }
    list += `,${w.key},"${num(w.value)}",${w.set ? 1 : 0},${num(w.expireAt)}`;
  }
  return `${list}]`;
}

/**
 * The number in s[start, end): up to 15 digits read in place (exact in a double); anything else (a
 * fraction, an exponent, more digits) by Number.
 */
function numberAt(s: string, start: number, end: number): number {
  if (end - start > 15) return Number(s.slice(start, end));
  let i = start;
  const neg = s.charCodeAt(i) === 45;
  if (neg) i++;
  let n = 0;
  for (; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number(s.slice(start, end));
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

/** Reads the script's reply (`status,failedCheck,v1,…,vn`) in place, without splitting it. */
function decode(reply: unknown, nkeys: number): CounterResult {
  if (typeof reply !== 'string') throw new Error('unexpected reply from the counter script');
  const values = new Array<number>(nkeys);
  let status = -1;
  let failed = -1;
  let field = 0;
  let start = 0;
  const len = reply.length;
  for (let i = 0; i <= len; i++) {
    if (i < len && reply.charCodeAt(i) !== 44) continue;
    const v = numberAt(reply, start, i);
    if (field === 0) status = v;
    else if (field === 1) failed = v;
    else if (field - 2 < nkeys) values[field - 2] = v;
    field++;
    start = i + 1;
  }
  if (field !== nkeys + 2) throw new Error('unexpected reply from the counter script');
  if (status === 0) return { status: 'applied', values };
  if (status === 2) return { status: 'duplicate', values };
  return { status: 'denied', values, failedCheck: failed };
}

export interface RedisCounterStoreOptions {
  /**
   * Run the counter script and reads on a dedicated lean connection (RespLane, default true) instead of
   * through ioredis. Ignored (ioredis is used) when the client needs TLS, Sentinel or a NAT map.
   */
  readonly lane?: boolean;
}

export class RedisCounterStore implements CounterStore {
  /** The hot path's connection; null when the store goes through ioredis. */
  private readonly lane: RespLane | null;

  /**
   * Takes ownership of `client` (close() quits it); its key prefix applies to every counter key. With the
   * lane, the client only lends its connection settings and is disconnected at once.
   */
  constructor(
    private readonly client: Redis,
    opts: RedisCounterStoreOptions = {},
  ) {
    this.lane = opts.lane === false ? null : RespLane.fromClient(client);
    if (this.lane !== null) client.disconnect();
  }

  execute(plan: CounterPlan): Promise<CounterResult> {
    const nkeys = plan.keys.length;
    let args: string;
    try {
      args = encodeArgs(plan);
    } catch (err) {
      return Promise.reject(err);
    }
    const keys = plan.dedupe ? [...plan.keys, plan.dedupe.key] : plan.keys;
    if (this.lane !== null) return this.lane.evalScript(EXECUTE, keys, [args], (r) => decode(r, nkeys));
    return EXECUTE.run(this.client, keys, [args]).then((r) => decode(r, nkeys));
  }

  /** MGET: on Redis Cluster the keys of one read must share a hash tag (one application's keys do). */
  async read(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const raw = this.lane !== null ? await this.lane.mget(keys) : await this.client.mget(...keys);
    if (!Array.isArray(raw) || raw.length !== keys.length) throw new Error('unexpected reply to MGET');
    return raw.map((v) => (v === null ? 0 : Number(v)));
  }

  async close(): Promise<void> {
    await this.lane?.close();
    await quitQuietly(this.client);
  }
}
