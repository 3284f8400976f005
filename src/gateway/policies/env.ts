/**
 * What policies need from the process, kept across config versions: the logger (access logs, warnings),
 * the edge rate limits' local state (so a config reload does not reset them) and the Redis connection
 * shared limits use (opened on first use, only when a chain asks for `storage: redis`).
 */
import type { Logger } from '../../obs/logger.js';
import { assertPrefix, openRedis, quitQuietly, type Redis } from '../../store/redis.js';
import { LocalLimits } from './rate-limit.js';

export interface PolicyEnvOptions {
  readonly logger?: Logger | null;
  /** The deployment's Redis (REDIS_URL and its key prefix); without it `storage: redis` runs locally. */
  readonly redis?: { readonly url: string; readonly keyPrefix: string } | null;
  /** Epoch ms. */
  readonly clock?: () => number;
}

export class PolicyEnv {
  readonly logger: Logger | null;
  readonly clock: () => number;
  readonly limits = new LocalLimits();
  private readonly redisOptions: PolicyEnvOptions['redis'];
  private client: Redis | null = null;
  /** Set when the connection broke or a command failed; cleared when it is ready again. */
  private down = false;
  private readonly warned = new Map<string, number>();

  constructor(opts: PolicyEnvOptions = {}) {
    this.logger = opts.logger ?? null;
    this.clock = opts.clock ?? Date.now;
    this.redisOptions = opts.redis ?? null;
    if (this.redisOptions) assertPrefix(this.redisOptions.keyPrefix);
  }

  /** Whether shared (Redis) rate limits are possible in this process. */
  get hasRedis(): boolean {
    return this.redisOptions != null;
  }

  /**
   * The Redis connection when it can take a command now, else null (the caller counts locally). While
   * the first connection is being made commands wait for it (bounded by the command timeout); once it
   * broke or a command failed, null comes at once (no request waits) until it is ready again.
   */
  redis(): Redis | null {
    const o = this.redisOptions;
    if (!o) return null;
    if (this.client === null) {
      // Errors surface per command (and are logged, throttled, by the limiter); openRedis keeps the emitter quiet.
      this.client = openRedis(o.url, {
        keyPrefix: o.keyPrefix,
        client: { maxRetriesPerRequest: 1, commandTimeout: 500 },
      });
      this.client.on('ready', () => {
        this.down = false;
      });
      this.client.on('close', () => {
        this.down = true;
      });
    }
    if (this.client.status === 'ready') return this.client;
    return this.down ? null : this.client;
  }

  /** A command failed: count locally until the connection is ready again. */
  redisFailed(): void {
    this.down = true;
  }

  /** Logs a warning once per `key` (per `everyMs` when given). */
  warn(key: string, obj: Record<string, unknown>, msg: string, everyMs = Number.POSITIVE_INFINITY): void {
    const now = this.clock();
    const last = this.warned.get(key);
    if (last !== undefined && now - last < everyMs) return;
    this.warned.set(key, now);
    this.logger?.warn(obj, msg);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c !== null) await quitQuietly(c);
  }
}

/** Builds the policies' process environment (the composition root passes the logger and Redis). */
export function createPolicyEnv(opts: PolicyEnvOptions = {}): PolicyEnv {
  return new PolicyEnv(opts);
}
