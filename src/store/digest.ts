/** Secret handling shared by the stores: digests for lookups, constant-time comparison. */
import { hash, timingSafeEqual } from 'node:crypto';

/** Hex SHA-256 of a secret: the form in which secrets are indexed and admin tokens are stored. */
export function sha256(value: string): string {
  // One-shot hash: no Hash object per call (this runs twice per authorization).
  return hash('sha256', value, 'hex');
}

/** Compares two secrets in time that depends only on their lengths' digest, never on their content. */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'));
}
