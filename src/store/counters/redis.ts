/**
 * Redis counter store. Guarantees: every plan runs as ONE Lua script, so its reads, checks, writes and
 * dedupe mark are atomic across every process sharing the Redis; a plan's keys (and dedupe key) share one
 * application's hash tag, so it runs unchanged on Redis Cluster. Expiry is Redis' own (PEXPIREAT); whether a write
 * is already past its window's expiry is judged by the caller's clock. Increments must be integers (INCRBY); a fractional one is a fault.
 */
import type { CounterPlan, CounterResult } from '../../domain/counters.js';
import type { CounterStore } from '../ports.js';
import { LuaScript, quitQuietly, type Redis } from '../redis.js';

/**
 * KEYS: the plan's keys, then the dedupe key when the plan has one.
 * ARGV[1]: ONE comma-separated list: nkeys, hasDedupe (1/0), dedupeExpireAt, nchecks, nwrites, now (the
 * caller's clock, epoch ms: writes to windows already expired are skipped, with no TIME call), then 4
 * numbers per check (key, max, value, set) and 4 per write (key, value, set, expireAt); key indexes are
 * 0-based as in CounterPlan. Each argument costs the client a few microseconds to encode: one is cheapest.
 * Reply: one comma-separated string: status (0 applied, 1 denied, 2 duplicate), failedCheck (-1 when
 * none), then the raw values.
 */
const EXECUTE = new LuaScript(`
local P, np = {}, 0
for tok in string.gmatch(ARGV[1], '[^,]+') do
  np = np + 1
  P[np] = tok
end
local nkeys = tonumber(P[1])
local hasDedupe = P[2] == '1'
local dedupeExp = tonumber(P[3])
local nchecks = tonumber(P[4])
local nwrites = tonumber(P[5])
local now = tonumber(P[6])
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
  local stored = values[tonumber(P[a]) + 1] or 0
  local max, v = tonumber(P[a + 1]), tonumber(P[a + 2])
  local nextv = v
  if P[a + 3] ~= '1' then nextv = stored + v end
  if nextv > max then return reply(1, i) end
  a = a + 4
end
for i = 1, nwrites do
  local key = KEYS[tonumber(P[a]) + 1]
  local v, set, exp = P[a + 1], P[a + 2] == '1', tonumber(P[a + 3])
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

function encodeArgs(plan: CounterPlan): string[] {
  let list = `${plan.keys.length},${plan.dedupe ? '1' : '0'},${plan.dedupe?.expireAt ?? 0},${plan.checks.length},${plan.writes.length},${Date.now()},`;
  for (const c of plan.checks) list += `${c.key},${num(c.max)},${num(c.value)},${c.set ? '1' : '0'},`;
  for (const w of plan.writes) {
    if (!w.set && !Number.isSafeInteger(w.value)) {
      throw new Error(`redis counters increment by integers only, got ${w.value}`);
    }
    list += `${w.key},${num(w.value)},${w.set ? '1' : '0'},${num(w.expireAt)},`;
  }
  return [list];
}

function decode(reply: unknown, nkeys: number): CounterResult {
  const parts = typeof reply === 'string' ? reply.split(',') : [];
  if (parts.length !== nkeys + 2) throw new Error('unexpected reply from the counter script');
  const values = new Array<number>(nkeys);
  for (let i = 0; i < nkeys; i++) values[i] = Number(parts[i + 2]);
  const status = Number(parts[0]);
  if (status === 0) return { status: 'applied', values };
  if (status === 2) return { status: 'duplicate', values };
  return { status: 'denied', values, failedCheck: Number(parts[1]) };
}

export class RedisCounterStore implements CounterStore {
  /** Takes ownership of `client` (close() quits it); its key prefix applies to every counter key. */
  constructor(private readonly client: Redis) {}

  async execute(plan: CounterPlan): Promise<CounterResult> {
    const keys = plan.dedupe ? [...plan.keys, plan.dedupe.key] : plan.keys;
    const reply = await EXECUTE.run(this.client, keys, encodeArgs(plan));
    return decode(reply, plan.keys.length);
  }

  /** MGET: on Redis Cluster the keys of one read must share a hash tag (one application's keys do). */
  async read(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const raw = await this.client.mget(...keys);
    return raw.map((v) => (v === null ? 0 : Number(v)));
  }

  async close(): Promise<void> {
    await quitQuietly(this.client);
  }
}
