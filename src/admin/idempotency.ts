/**
 * Idempotency-Key on POST (the IETF httpapi draft's semantics): the first request with a key is executed
 * and its answer stored; a retry with the same key and the same request gets the stored answer
 * (`idempotent-replayed: true`); the same key with a different request is refused (422); a retry while
 * the first is still running gets 409. Keys are scoped to the calling token and kept 24 hours.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../store/sql/schema.js';
import type { Principal } from './auth.js';
import { AdminError } from './errors.js';

const KEY_RE = /^[\x21-\x7e]{1,255}$/;
const TTL_MS = 24 * 3_600_000;
/** status 0 marks a request still in progress. */
const IN_PROGRESS = 0;
/** An in-progress claim older than this was abandoned (the request timeout is far shorter). */
const ABANDONED_MS = 5 * 60_000;

export interface IdempotencySlot {
  readonly scope: string;
  readonly key: string;
}

function requestHash(req: FastifyRequest): string {
  return createHash('sha256')
    .update(`${req.method} ${req.url}\n`)
    .update(JSON.stringify(req.body ?? null))
    .digest('hex');
}

/**
 * Claims the key for this request, or answers from the stored response. Returns the slot to complete
 * (null when the request carries no key or was answered here).
 */
export async function claimIdempotencyKey(
  db: Kysely<DB>,
  req: FastifyRequest,
  reply: FastifyReply,
  principal: Principal,
  now: number,
  revealsSecret = false,
): Promise<IdempotencySlot | null> {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return null;
  const key = String(raw);
  if (!KEY_RE.test(key))
    throw new AdminError('invalid_request', 'Idempotency-Key must be 1-255 visible ASCII characters');
  const scope = `${principal.tenantId ?? 'platform'}:${principal.tokenId}`;
  const hash = requestHash(req);
  await db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', now - TTL_MS)
    .execute();
  const inserted = await db
    .insertInto('idempotency_keys')
    .values({ scope, key, request_hash: hash, status: IN_PROGRESS, body: '', created_at: now })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return { scope, key };
  const row = await db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('scope', '=', scope)
    .where('key', '=', key)
    .executeTakeFirst();
  if (!row) throw new AdminError('conflict', 'a request with this Idempotency-Key is in progress');
  if (row.request_hash !== hash) throw new AdminError('idempotency_key_reused');
  if (row.status === IN_PROGRESS) {
    // A claim older than any request may take was left by a process that died mid-request: take it over
    // (compare-and-set on created_at, so only one retry wins).
    if (Number(row.created_at) < now - ABANDONED_MS) {
      const taken = await db
        .updateTable('idempotency_keys')
        .set({ created_at: now })
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('status', '=', IN_PROGRESS)
        .where('created_at', '=', Number(row.created_at))
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) === 1) return { scope, key };
    }
    throw new AdminError('conflict', 'a request with this Idempotency-Key is in progress');
  }
  if (revealsSecret && row.status < 400) {
    throw new AdminError(
      'conflict',
      'this request was already done; its answer showed a secret once and is not kept',
    );
  }
  reply.header('idempotent-replayed', 'true');
  reply.code(row.status).type('application/json');
  await reply.send(row.body === '' ? undefined : row.body);
  return null;
}

/**
 * Stores the answer of a claimed request (or frees the key when it failed with a 5xx, so a retry runs).
 * A successful answer that showed a secret is recorded without its body.
 */
export async function completeIdempotencyKey(
  db: Kysely<DB>,
  slot: IdempotencySlot,
  status: number,
  body: string,
  revealsSecret = false,
): Promise<void> {
  if (revealsSecret && status < 400) body = '';
  const q = db.updateTable('idempotency_keys').where('scope', '=', slot.scope).where('key', '=', slot.key);
  if (status >= 500) {
    await db
      .deleteFrom('idempotency_keys')
      .where('scope', '=', slot.scope)
      .where('key', '=', slot.key)
      .execute();
    return;
  }
  await q.set({ status, body }).execute();
}
