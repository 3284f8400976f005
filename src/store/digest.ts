/** Secret handling shared by the stores: digests for lookups, constant-time comparison. */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Hex SHA-256 of a secret: the form in which secrets are indexed and admin tokens are stored. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Compares two secrets in time that depends only on their lengths' digest, never on their content. */
export function secretEquals(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
