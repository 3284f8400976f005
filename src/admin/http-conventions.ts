/**
 * Conventions shared by every admin API resource: cursor pagination, ETags with If-Match, and the
 * JSON schemas that go with them.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AdminError } from './errors.js';
import type { JsonSchema } from './route.js';

/** `?limit=&cursor=` of every list operation. */
export const PAGE_QUERY: Readonly<Record<string, JsonSchema>> = {
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  cursor: { type: 'string', maxLength: 512 },
};

/** The body of a list answer: `items` and the cursor of the next page (null on the last). */
export function pageSchema(item: JsonSchema): JsonSchema {
  return {
    type: 'object',
    required: ['items', 'next_cursor'],
    properties: { items: { type: 'array', items: item }, next_cursor: { type: ['string', 'null'] } },
  };
}

/** An opaque cursor: the sort key of the last item seen. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | null {
  if (cursor === undefined || cursor === '') return null;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key === '' || encodeCursor(key) !== cursor)
    throw new AdminError('invalid_request', 'cursor is not valid');
  return key;
}

/**
 * Cuts a page from rows sorted by `keyOf` ascending, fetched with `limit + 1` rows after the cursor:
 * the extra row only tells whether there is a next page.
 */
export function page<T>(rows: readonly T[], limit: number, keyOf: (row: T) => string) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** A strong ETag of a resource's JSON representation. */
export function etagOf(representation: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(representation)).digest('base64url').slice(0, 27)}"`;
}

/** Sets the ETag header of a resource answer. */
export function withEtag<T>(reply: FastifyReply, representation: T): T {
  reply.header('etag', etagOf(representation));
  return representation;
}

/**
 * Enforces If-Match on a write: when the caller sent one, it must name the current representation's
 * ETag (or `*`); a mismatch is 412 and nothing is written.
 */
export function checkIfMatch(req: FastifyRequest, current: unknown): void {
  const h = req.headers['if-match'];
  if (h === undefined) return;
  const wanted = String(h)
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''));
  if (wanted.includes('*')) return;
  if (!wanted.includes(etagOf(current))) {
    throw new AdminError('precondition_failed', 'the resource changed since you read it: fetch it again');
  }
}
