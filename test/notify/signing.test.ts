// Signatures and the retry schedule as pure functions: what a receiver verifies, when a retry is due.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF_MS, retryDelay } from '../../src/notify/backoff.js';
import { subscribes } from '../../src/notify/event.js';
import { newWebhookSecret, signatureHeader, verifySignature } from '../../src/notify/signing.js';

describe('webhook signatures', () => {
  const secret = 'whsec_test_secret_value';
  const body = '{"id":"e1","type":"account.created"}';
  const now = Date.UTC(2026, 0, 1, 12);

  it('signs HMAC-SHA256 of "<t>.<body>" with t in unix seconds', () => {
    const h = signatureHeader(secret, body, now);
    const t = Math.floor(now / 1000);
    expect(h).toBe(`t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`);
  });

  it('verifies a good signature and refuses tampering, a wrong secret, staleness, garbage', () => {
    const h = signatureHeader(secret, body, now);
    expect(verifySignature(h, body, secret, now + 1000)).toEqual({ ok: true, t: Math.floor(now / 1000) });
    expect(verifySignature(h, `${body} `, secret, now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(h, body, 'other', now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(h, body, secret, now + 301_000)).toEqual({ ok: false, reason: 'too_old' });
    expect(verifySignature('v1=abc', body, secret, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(undefined, body, secret, now)).toEqual({ ok: false, reason: 'malformed' });
    // Any of several v1 values may match (a receiver accepting two secrets during a rotation).
    const multi = `${h.split(',')[0]},v1=${'0'.repeat(64)},${h.split(',')[1]}`;
    expect(verifySignature(multi, body, secret, now).ok).toBe(true);
  });

  it('generates distinct, long secrets', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[\w-]{43}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });
});

describe('retry schedule', () => {
  it('follows the schedule, repeats its last step, and spreads by the jitter', () => {
    expect(retryDelay(1, DEFAULT_BACKOFF_MS, 0)).toBe(10_000);
    expect(retryDelay(2, DEFAULT_BACKOFF_MS, 0)).toBe(30_000);
    expect(retryDelay(50, DEFAULT_BACKOFF_MS, 0)).toBe(4 * 3_600_000);
    expect(retryDelay(1, DEFAULT_BACKOFF_MS, 0.2, () => 0)).toBe(9_000);
    expect(retryDelay(1, DEFAULT_BACKOFF_MS, 0.2, () => 1)).toBe(11_000);
  });

  it('spans about a day over the default 12 attempts', () => {
    let total = 0;
    for (let n = 1; n < 12; n++) total += retryDelay(n, DEFAULT_BACKOFF_MS, 0);
    expect(total / 3_600_000).toBeGreaterThan(20);
    expect(total / 3_600_000).toBeLessThan(26);
  });
});

describe('subscriptions', () => {
  it('matches exact types, <object>.* and *', () => {
    expect(subscribes(['*'], 'plan.updated')).toBe(true);
    expect(subscribes(['plan.*'], 'plan.updated')).toBe(true);
    expect(subscribes(['plan.created'], 'plan.updated')).toBe(false);
    expect(subscribes(['application.*'], 'plan.updated')).toBe(false);
  });
});
