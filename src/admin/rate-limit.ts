/**
 * Rate limit of the admin API itself: a fixed one-minute window per token, in this process. Answers
 * 429 with Retry-After and the RateLimit-* headers (IETF draft) once a token exceeds its budget.
 */
import type { FastifyReply } from 'fastify';
import { AdminError } from './errors.js';

export class AdminRateLimiter {
  private window = -1;
  private readonly used = new Map<string, number>();

  constructor(
    private readonly perMinute: number,
    private readonly clock: () => number,
  ) {}

  /** Counts one call of `tokenId`; throws rate_limited past the budget. */
  hit(tokenId: string, reply: FastifyReply): void {
    const now = this.clock();
    const window = Math.floor(now / 60_000);
    if (window !== this.window) {
      this.window = window;
      this.used.clear();
    }
    const n = (this.used.get(tokenId) ?? 0) + 1;
    this.used.set(tokenId, n);
    const reset = Math.ceil(((window + 1) * 60_000 - now) / 1000);
    reply.header('ratelimit-limit', String(this.perMinute));
    reply.header('ratelimit-remaining', String(Math.max(this.perMinute - n, 0)));
    reply.header('ratelimit-reset', String(reset));
    if (n > this.perMinute) {
      reply.header('retry-after', String(reset));
      throw new AdminError('rate_limited', `at most ${this.perMinute} calls a minute per token`);
    }
  }
}
