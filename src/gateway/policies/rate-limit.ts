/**
 * Edge rate limits (the rate_limit policy): fixed windows and token buckets, keyed by client IP, by the
 * credential presented or by a header, counted in this process or in Redis (shared by every gateway).
 * A decision is 0 (allowed) or the seconds to wait (denied: `Retry-After`).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript } from '../../store/redis.js';

/** One counter slot: a window (n = requests, exp = window end) or a bucket (n = tokens, ts = last refill). */
interface Slot {
  exp: number;
  n: number;
  ts: number;
}

/** Seconds until `ms` from now, at least 1 (a Retry-After of 0 invites an immediate retry storm). */
function secondsUntil(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Per-process limit state, kept across config versions (keys carry the limiter's identity). */
export class LocalLimits {
  private readonly slots = new Map<string, Slot>();
  private sweepAt = 4096;

  get size(): number {
    return this.slots.size;
  }

  private slot(key: string, now: number): Slot | undefined {
    const s = this.slots.get(key);
    if (s !== undefined || this.slots.size < this.sweepAt) return s;
    // Bounded memory: expired slots go when the map doubles (amortised O(1) per new key).
    for (const [k, v] of this.slots) if (v.exp <= now) this.slots.delete(k);
    this.sweepAt = Math.max(4096, this.slots.size * 2);
    return undefined;
  }

  /** Fixed window aligned on the epoch: at most `count` per `windowMs`. */
  fixed(key: string, count: number, windowMs: number, now: number): number {
    let s = this.slot(key, now);
    if (s === undefined) {
      s = { exp: 0, n: 0, ts: 0 };
      this.slots.set(key, s);
    }
    if (s.exp <= now) {
      s.exp = Math.floor(now / windowMs) * windowMs + windowMs;
      s.n = 0;
    }
    s.n++;
    return s.n > count ? secondsUntil(s.exp - now) : 0;
  }

  /** Token bucket: `ratePerMs` refill, `burst` capacity, one token per request. */
  bucket(key: string, ratePerMs: number, burst: number, now: number): number {
    let s = this.slot(key, now);
    if (s === undefined) {
      s = { exp: 0, n: burst, ts: now };
      this.slots.set(key, s);
    } else if (now > s.ts) {
      s.n = Math.min(burst, s.n + (now - s.ts) * ratePerMs);
      s.ts = now;
    }
    if (s.n >= 1) {
      s.n -= 1;
      s.exp = now + (burst - s.n) / ratePerMs;
      return 0;
    }
    return secondsUntil((1 - s.n) / ratePerMs);
  }
}

// KEYS[1] = the window's counter; ARGV = window ms. Returns the count including this request.
const FIXED = new LuaScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`);

// KEYS[1] = the bucket; ARGV = tokens per ms, burst, now (ms). Returns 0 (taken) or ms until a token.
const BUCKET = new LuaScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
elseif now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait
`);

/** Redis keys do not carry credentials or header values in clear: a digest of the key stands in. */
export function digestKey(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 24);
}

export async function redisFixed(
  client: Redis,
  base: string,
  key: string,
  count: number,
  windowMs: number,
  now: number,
): Promise<number> {
  const w = Math.floor(now / windowMs);
  const n = Number(await FIXED.run(client, [`${base}:${digestKey(key)}:${w}`], [windowMs]));
  return n > count ? secondsUntil((w + 1) * windowMs - now) : 0;
}

export async function redisBucket(
  client: Redis,
  base: string,
  key: string,
  ratePerMs: number,
  burst: number,
  now: number,
): Promise<number> {
  const wait = Number(await BUCKET.run(client, [`${base}:${digestKey(key)}`], [ratePerMs, burst, now]));
  return wait > 0 ? secondsUntil(wait) : 0;
}
