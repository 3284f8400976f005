/** Secret handling shared by the stores: digests for lookups, constant-time comparison. */
import { hash, timingSafeEqual } from 'node:crypto';

/** Hex SHA-256 of a secret: the form in which secrets are indexed and admin tokens are stored. */
export function sha256(value: string): string {
  // One-shot hash: no Hash object per call (this runs twice per authorization).
  return hash('sha256', value, 'hex');
}

const MEMO_MAX = 10_000;
const memo = new Map<string, string>();

/**
 * `sha256`, remembered for the last secrets seen (at most 10 000; the memo starts over when full): the
 * same few keys arrive on every call, and hashing each of them on each call was a measurable share of an
 * authorization. For lookups on the request path; the memo lives only in this process's memory.
 */
export function lookupDigest(value: string): string {
  let d = memo.get(value);
  if (d === undefined) {
    if (memo.size >= MEMO_MAX) memo.clear();
    d = sha256(value);
    memo.set(value, d);
  }
  return d;
}

/** Compares two secrets in time that depends only on their lengths' digest, never on their content. */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'));
}
