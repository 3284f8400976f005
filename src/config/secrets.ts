/** Secrets in a config: plain values become SHA-256 hex digests; `sha256:<hex>` hashes pass through. */
import { sha256 } from '../store/digest.js';
import type { AdminTokenDoc, ServiceDoc } from './schema.js';

const PREFIX = 'sha256:';

/** The stored digest (hex) of an admin token written as `value` or `hash`. */
export function digestOf(tok: Pick<AdminTokenDoc, 'value' | 'hash'>): string {
  if (tok.hash !== undefined) return tok.hash.slice(PREFIX.length);
  return sha256(tok.value ?? '');
}

/** The digests of every service token of a service (`service_token` then `service_tokens`), in order. */
export function serviceTokenDigests(s: Pick<ServiceDoc, 'service_token' | 'service_tokens'>): string[] {
  const out: string[] = [];
  if (s.service_token !== undefined) out.push(sha256(s.service_token));
  for (const t of s.service_tokens ?? [])
    out.push(typeof t === 'string' ? sha256(t) : t.hash.slice(PREFIX.length));
  return out;
}

/** How a stored digest is written in an exported config. */
export function hashRef(digest: string): { hash: string } {
  return { hash: `${PREFIX}${digest}` };
}
