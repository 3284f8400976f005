/** Ids the application generates: row ids, 3scale-style numeric service ids, hex app_ids. */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';

/** A row id (internal, never shown to 3scale clients). */
export function newId(): string {
  return randomUUID();
}

/** A 13-digit numeric service id, like 3scale's. */
export function newServiceId(): string {
  return `${randomInt(1, 10)}${String(randomInt(0, 1e12)).padStart(12, '0')}`;
}

/** A 16-hex-digit application id (3scale's app_id). */
export function newAppId(): string {
  return randomBytes(8).toString('hex');
}
