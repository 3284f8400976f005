/**
 * Webhook signatures, Stripe-style: `tollgate-signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `"<t>.<body>"`, so a receiver can check both origin and freshness (replays older than its tolerance).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'tollgate-signature';

/** A new signing secret: 32 random bytes, shown once to the caller. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** The hex HMAC-SHA256 of `"<t>.<body>"`. */
export function signatureOf(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** The `tollgate-signature` header value for `body` sent at `nowMs`. */
export function signatureHeader(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${signatureOf(secret, t, body)}`;
}

export type VerifyOutcome =
  | { readonly ok: true; readonly t: number }
  | { readonly ok: false; readonly reason: 'malformed' | 'mismatch' | 'too_old' };

/**
 * Checks a `tollgate-signature` header against the raw body: some `v1` must match (several may be sent
 * during a rotation) and `t` must be within `toleranceSec` of now. Comparison is constant-time.
 */
export function verifySignature(
  header: string | undefined,
  body: string,
  secret: string,
  nowMs: number,
  toleranceSec = 300,
): VerifyOutcome {
  if (!header) return { ok: false, reason: 'malformed' };
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 't' && v && /^\d+$/.test(v)) t = Number(v);
    else if (k === 'v1' && v) v1.push(v);
  }
  if (t === undefined || v1.length === 0) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(signatureOf(secret, t, body), 'utf8');
  const match = v1.some((s) => {
    const got = Buffer.from(s, 'utf8');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  if (!match) return { ok: false, reason: 'mismatch' };
  if (Math.abs(nowMs / 1000 - t) > toleranceSec) return { ok: false, reason: 'too_old' };
  return { ok: true, t };
}
