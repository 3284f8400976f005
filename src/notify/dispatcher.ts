/**
 * The webhook dispatcher: polls the outbox for due deliveries, claims each with a lease (so two
 * dispatchers never send the same attempt), POSTs the signed event, logs the attempt and either marks
 * the delivery delivered or schedules the next try. All state is in SQL: a restart resumes where it was.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Agent, request } from 'undici';
import type { Logger } from '../obs/logger.js';
import type { DB } from '../store/sql/schema.js';
import { DEFAULT_BACKOFF_MS, DEFAULT_MAX_ATTEMPTS, retryDelay } from './backoff.js';
import { SIGNATURE_HEADER, signatureHeader } from './signing.js';

export const USER_AGENT = 'Tollgate-Webhooks/1';
/** How much of a receiver's answer is kept in the attempt log. */
export const RESPONSE_BODY_LIMIT = 2048;

/** Options of a dispatcher; every default is production's, tests shorten the schedule. */
export interface WebhookDispatcherOptions {
  readonly db: Kysely<DB>;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** Pause between polls when nothing was due (default 1 s). */
  readonly pollIntervalMs?: number;
  /** Deliveries claimed and sent concurrently per poll (default 20). */
  readonly batchSize?: number;
  /** Delay after the n-th failed attempt; the last entry repeats (default 10 s, 30 s, 2 min, … 4 h). */
  readonly backoffMs?: readonly number[];
  /** Attempts before a delivery is `failed` (default 12, about 24 h). */
  readonly maxAttempts?: number;
  /** Relative spread of each delay, 0..1 (default 0.2). */
  readonly jitter?: number;
  /** Connect, headers and body timeouts of one attempt (default 10 s each). */
  readonly timeoutMs?: number;
  /** How long a claim keeps other dispatchers off a delivery (default 3 × timeout + 5 s). */
  readonly leaseMs?: number;
  readonly random?: () => number;
}

interface Claimed {
  readonly id: string;
  readonly leaseId: string;
  readonly attempt: number;
  readonly eventId: string;
  readonly eventType: string;
  readonly payload: string;
  readonly url: string;
  readonly secret: string;
}

type AttemptResult =
  | { readonly ok: true; readonly statusCode: number; readonly body: string }
  | {
      readonly ok: false;
      readonly statusCode: number | null;
      readonly body: string | null;
      readonly error: string;
    };

export class WebhookDispatcher {
  private readonly db: Kysely<DB>;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly backoffMs: readonly number[];
  private readonly maxAttempts: number;
  private readonly jitter: number;
  private readonly timeoutMs: number;
  private readonly leaseMs: number;
  private readonly random: () => number;
  private readonly agent: Agent;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = true;
  private closed = false;

  constructor(opts: WebhookDispatcherOptions) {
    this.db = opts.db;
    this.logger = opts.logger.child({ part: 'webhooks' });
    this.clock = opts.clock ?? Date.now;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.batchSize = opts.batchSize ?? 20;
    this.backoffMs = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.jitter = opts.jitter ?? 0.2;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.leaseMs = opts.leaseMs ?? 3 * this.timeoutMs + 5000;
    this.random = opts.random ?? Math.random;
    // Fail at start, not at the first delivery, on a nonsensical configuration.
    if (this.backoffMs.length === 0 || this.backoffMs.some((d) => !(d >= 0))) {
      throw new Error('webhook backoff schedule must be a non-empty list of delays >= 0');
    }
    if (!(this.maxAttempts >= 1 && this.batchSize >= 1 && this.jitter >= 0 && this.jitter <= 1)) {
      throw new Error('webhook dispatcher options out of range');
    }
    this.agent = new Agent({
      connect: { timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** Starts polling. A stopped dispatcher cannot be started again: build a new one. */
  start(): void {
    if (this.closed) throw new Error('webhook dispatcher was stopped');
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling, waits for attempts in flight to be recorded, and closes the HTTP agent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    if (!this.closed) {
      this.closed = true;
      await this.agent.close();
    }
  }

  /** One poll: claims due deliveries, attempts them concurrently; returns how many were attempted. */
  async runOnce(): Promise<number> {
    const claimed = await this.claim();
    await Promise.all(claimed.map((c) => this.attempt(c)));
    return claimed.length;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.running = this.tick();
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let n = 0;
    try {
      n = await this.runOnce();
    } catch (err) {
      this.logger.warn({ err }, 'webhook dispatch failed');
    }
    // A full batch suggests a backlog: poll again at once.
    if (!this.stopped) this.schedule(n >= this.batchSize ? 0 : this.pollIntervalMs);
  }

  /**
   * Claims up to batchSize due deliveries of active endpoints. Each claim is a compare-and-set on the
   * lease, so of two dispatchers that saw the same row only one wins it (SQLite and PostgreSQL alike).
   */
  private async claim(): Promise<Claimed[]> {
    const now = this.clock();
    const due = await this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .select(['d.id', 'd.attempts', 'd.event_id', 'd.event_type', 'd.payload', 'e.url', 'e.secret'])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('d.attempting_until', 'is', null), eb('d.attempting_until', '<', now)]))
      .where('e.active', '=', 1)
      .orderBy('d.next_attempt_at')
      .orderBy('d.seq')
      .limit(this.batchSize)
      .execute();
    const out: Claimed[] = [];
    for (const d of due) {
      const leaseId = randomUUID();
      const r = await this.db
        .updateTable('webhook_deliveries')
        .set({ attempting_until: now + this.leaseMs, lease_id: leaseId })
        .where('id', '=', d.id)
        .where('status', '=', 'pending')
        .where('attempts', '=', d.attempts)
        .where((eb) => eb.or([eb('attempting_until', 'is', null), eb('attempting_until', '<', now)]))
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) continue;
      out.push({
        id: d.id,
        leaseId,
        attempt: d.attempts + 1,
        eventId: d.event_id,
        eventType: d.event_type,
        payload: d.payload,
        url: d.url,
        secret: d.secret,
      });
    }
    return out;
  }

  private async attempt(c: Claimed): Promise<void> {
    const startedAt = this.clock();
    const t0 = performance.now();
    const result = await this.send(c);
    const durationMs = Math.round(performance.now() - t0);
    const now = this.clock();
    const retry = !result.ok && c.attempt < this.maxAttempts;
    const status = result.ok ? 'delivered' : retry ? 'pending' : 'failed';
    const error = result.ok ? null : result.error;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhook_delivery_attempts')
        .values({
          delivery_id: c.id,
          attempt: c.attempt,
          started_at: startedAt,
          duration_ms: durationMs,
          status_code: result.statusCode,
          error,
          response_body: result.body,
        })
        .execute();
      const r = await trx
        .updateTable('webhook_deliveries')
        .set({
          status,
          attempts: c.attempt,
          next_attempt_at: retry
            ? now + retryDelay(c.attempt, this.backoffMs, this.jitter, this.random)
            : null,
          attempting_until: null,
          lease_id: null,
          last_status_code: result.statusCode,
          last_error: error,
          updated_at: now,
          ...(result.ok ? { delivered_at: now } : {}),
        })
        .where('id', '=', c.id)
        .where('lease_id', '=', c.leaseId)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) {
        this.logger.warn({ delivery: c.id }, 'webhook lease expired before the attempt was recorded');
      }
    });
    this.logger.debug({ delivery: c.id, attempt: c.attempt, status, code: result.statusCode }, 'webhook');
  }

  private async send(c: Claimed): Promise<AttemptResult> {
    try {
      const res = await request(c.url, {
        method: 'POST',
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'tollgate-event-id': c.eventId,
          'tollgate-event-type': c.eventType,
          'tollgate-delivery-id': c.id,
          [SIGNATURE_HEADER]: signatureHeader(c.secret, c.payload, this.clock()),
        },
        body: c.payload,
      });
      const body = await readCapped(res.body, RESPONSE_BODY_LIMIT);
      if (res.statusCode >= 200 && res.statusCode < 300)
        return { ok: true, statusCode: res.statusCode, body };
      return { ok: false, statusCode: res.statusCode, body, error: `HTTP ${res.statusCode}` };
    } catch (err) {
      return { ok: false, statusCode: null, body: null, error: describeError(err) };
    }
  }
}

/** Reads at most `limit` bytes of a body and drops the rest (a receiver may answer with anything). */
async function readCapped(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break; // leaving the loop destroys the stream
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** A short, stable description of a transport failure: undici's code (timeouts are distinct) and message. */
function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code =
    typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : 'ERROR';
  const msg = typeof e.message === 'string' && e.message !== '' ? e.message : String(e.cause?.message ?? err);
  return `${code}: ${msg}`.slice(0, 500);
}
