import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OidcVerifier, type OidcVerifierOptions } from '../../src/gateway/oidc.js';

/** A real issuer on a local port: discovery document and JWKS, counting every request by path. */
interface Issuer {
  url: string;
  keys: JWK[];
  hits: Map<string, number>;
  discoveryIssuer?: string;
  failJwks: boolean;
  server: Server;
}

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

async function startIssuer(): Promise<Issuer> {
  const issuer: Issuer = { url: '', keys: [], hits: new Map(), failJwks: false, server: createServer() };
  issuer.server.on('request', (req, res) => {
    const path = req.url ?? '';
    issuer.hits.set(path, (issuer.hits.get(path) ?? 0) + 1);
    if (path === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ issuer: issuer.discoveryIssuer ?? issuer.url, jwks_uri: `${issuer.url}/certs` }),
      );
    } else if (path === '/certs' && !issuer.failJwks) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: issuer.keys }));
    } else {
      res.statusCode = path === '/certs' ? 503 : 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => issuer.server.listen(0, '127.0.0.1', resolve));
  issuer.url = `http://127.0.0.1:${(issuer.server.address() as AddressInfo).port}`;
  return issuer;
}

let iss: Issuer;
let k1: SigningKey;
let k2: SigningKey;
let stranger: SigningKey;
let clock: number;
const now = () => clock;

beforeAll(async () => {
  iss = await startIssuer();
  [k1, k2, stranger] = await Promise.all([makeKey('k1'), makeKey('k2', 'ES256'), makeKey('k1')]);
});

afterAll(async () => {
  iss.server.closeAllConnections();
  await new Promise<void>((resolve) => iss.server.close(() => resolve()));
});

beforeEach(() => {
  clock = Date.UTC(2030, 0, 1);
  iss.keys = [k1.jwk];
  iss.hits.clear();
  iss.failJwks = false;
  delete iss.discoveryIssuer;
});

const jwksHits = () => iss.hits.get('/certs') ?? 0;
const discoveryHits = () => iss.hits.get('/.well-known/openid-configuration') ?? 0;

/** A token valid for an hour from the fake clock, unless claims say otherwise. */
function sign(
  key: SigningKey,
  claims: JWTPayload = {},
  header: { kid?: string | null } = {},
): Promise<string> {
  const sec = Math.floor(clock / 1000);
  const kid = header.kid === null ? undefined : (header.kid ?? key.kid);
  return new SignJWT({ iss: iss.url, azp: 'app-1', iat: sec, exp: sec + 3600, ...claims })
    .setProtectedHeader(kid === undefined ? { alg: key.alg } : { alg: key.alg, kid })
    .sign(key.privateKey);
}

function verifier(opts: Partial<OidcVerifierOptions> = {}): OidcVerifier {
  return new OidcVerifier({ issuer: iss.url, now, minRefetchIntervalMs: 30_000, ...opts });
}

describe('OidcVerifier against a real JWKS server', () => {
  it('accepts a valid token, discovering the JWKS through openid-configuration', async () => {
    const v = verifier();
    const out = await v.verify(await sign(k1));
    expect(out).toMatchObject({ ok: true, appId: 'app-1' });
    if (out.ok) expect(out.expiresAt).toBe(clock + 3600_000);
    expect(discoveryHits()).toBe(1);
    expect(jwksHits()).toBe(1);
  });

  it('a configured jwks_uri skips discovery', async () => {
    const v = verifier({ jwksUri: `${iss.url}/certs` });
    expect((await v.verify(await sign(k1))).ok).toBe(true);
    expect(discoveryHits()).toBe(0);
    expect(jwksHits()).toBe(1);
  });

  it('caches a verified token until its exp: no fetch, no second verification', async () => {
    const v = verifier();
    const token = await sign(k1, { exp: Math.floor(clock / 1000) + 60 });
    expect((await v.verify(token)).ok).toBe(true);
    expect((await v.verify(token)).ok).toBe(true);
    expect(v.stats).toEqual({ verifications: 1, cacheHits: 1 });
    expect(jwksHits()).toBe(1);
    clock += 61_000;
    expect(await v.verify(token)).toMatchObject({ ok: false, code: 'expired' });
    expect(v.stats).toEqual({ verifications: 2, cacheHits: 1 });
  });

  it('the token cache is a bounded LRU', async () => {
    const v = verifier({ tokenCacheSize: 2 });
    const [a, b, c] = await Promise.all([
      sign(k1, { sub: 'a' }),
      sign(k1, { sub: 'b' }),
      sign(k1, { sub: 'c' }),
    ]);
    for (const t of [a, b, a, c]) expect((await v.verify(t)).ok).toBe(true);
    // a was used after b, so c evicted b; a is still cached, b is verified again.
    expect(v.stats).toEqual({ verifications: 3, cacheHits: 1 });
    await v.verify(a);
    await v.verify(b);
    expect(v.stats).toEqual({ verifications: 4, cacheHits: 2 });
  });

  it('refuses an expired token', async () => {
    const sec = Math.floor(clock / 1000);
    const out = await verifier().verify(await sign(k1, { iat: sec - 7200, exp: sec - 10 }));
    expect(out).toMatchObject({ ok: false, code: 'expired' });
  });

  it('clock tolerance admits a just-expired token', async () => {
    const sec = Math.floor(clock / 1000);
    const token = await sign(k1, { iat: sec - 7200, exp: sec - 10 });
    expect((await verifier({ clockToleranceSec: 30 }).verify(token)).ok).toBe(true);
  });

  it('refuses a token not valid yet (nbf)', async () => {
    const out = await verifier().verify(await sign(k1, { nbf: Math.floor(clock / 1000) + 600 }));
    expect(out).toMatchObject({ ok: false, code: 'not_yet_valid' });
  });

  it('refuses a token without exp', async () => {
    const token = await new SignJWT({ iss: iss.url, azp: 'x' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(k1.privateKey);
    expect(await verifier().verify(token)).toMatchObject({ ok: false, code: 'invalid_token' });
  });

  it('refuses a token of another issuer', async () => {
    const out = await verifier().verify(await sign(k1, { iss: 'https://evil.example.com' }));
    expect(out).toMatchObject({ ok: false, code: 'wrong_issuer' });
  });

  it('checks aud only when configured', async () => {
    const token = await sign(k1, { aud: ['api', 'other'] });
    expect((await verifier().verify(token)).ok).toBe(true);
    expect((await verifier({ audience: 'api' }).verify(token)).ok).toBe(true);
    expect(await verifier({ audience: ['nope', 'no'] }).verify(token)).toMatchObject({
      ok: false,
      code: 'wrong_audience',
    });
  });

  it('refuses a token signed by another key under a known kid', async () => {
    const out = await verifier().verify(await sign(stranger));
    expect(out).toMatchObject({ ok: false, code: 'bad_signature' });
  });

  it('takes the app id from azp, then client_id', async () => {
    const v = verifier();
    expect(await v.verify(await sign(k1, { azp: 'from-azp', client_id: 'from-cid' }))).toMatchObject({
      ok: true,
      appId: 'from-azp',
    });
    expect(await v.verify(await sign(k1, { azp: undefined, client_id: 'from-cid' }))).toMatchObject({
      ok: true,
      appId: 'from-cid',
    });
    expect(await v.verify(await sign(k1, { azp: '', client_id: 'cid2' }))).toMatchObject({
      ok: true,
      appId: 'cid2',
    });
    expect(await v.verify(await sign(k1, { azp: undefined, sub: 'user' }))).toMatchObject({
      ok: false,
      code: 'no_client_id',
    });
  });

  it('an unknown kid refetches once; a second unknown kid within the window does not', async () => {
    const v = verifier();
    expect((await v.verify(await sign(k1))).ok).toBe(true);
    expect(jwksHits()).toBe(1);
    clock += 31_000;
    expect(await v.verify(await sign(k1, {}, { kid: 'ghost-1' }))).toMatchObject({
      ok: false,
      code: 'unknown_kid',
    });
    expect(jwksHits()).toBe(2);
    clock += 5_000;
    expect(await v.verify(await sign(k1, {}, { kid: 'ghost-2' }))).toMatchObject({
      ok: false,
      code: 'unknown_kid',
    });
    expect(jwksHits()).toBe(2);
    clock += 30_000;
    expect(await v.verify(await sign(k1, {}, { kid: 'ghost-3' }))).toMatchObject({
      ok: false,
      code: 'unknown_kid',
    });
    expect(jwksHits()).toBe(3);
    expect(discoveryHits()).toBe(1);
  });

  it('follows a key rotation: the new kid is fetched, the removed one is refused', async () => {
    const v = verifier();
    const oldToken = await sign(k1);
    expect((await v.verify(oldToken)).ok).toBe(true);
    iss.keys = [k2.jwk];
    clock += 31_000;
    expect(await v.verify(await sign(k2))).toMatchObject({ ok: true, appId: 'app-1' });
    expect(jwksHits()).toBe(2);
    // A token already verified stays accepted until its exp (cached); a new one under the old kid is refused.
    expect((await v.verify(oldToken)).ok).toBe(true);
    expect(await v.verify(await sign(k1, { sub: 'new' }))).toMatchObject({ ok: false, code: 'unknown_kid' });
  });

  it('a key rotated in right after the first fetch is found by one refetch; the window then holds', async () => {
    const v = verifier();
    expect((await v.verify(await sign(k1))).ok).toBe(true);
    iss.keys = [k1.jwk, k2.jwk];
    expect(await v.verify(await sign(k2))).toMatchObject({ ok: true, appId: 'app-1' });
    expect(jwksHits()).toBe(2);
    const k3 = await makeKey('k3');
    iss.keys = [k1.jwk, k2.jwk, k3.jwk];
    clock += 10_000;
    expect(await v.verify(await sign(k3))).toMatchObject({ ok: false, code: 'unknown_kid' });
    expect(jwksHits()).toBe(2);
  });

  it('a token without kid is checked against every key of its type', async () => {
    const other = await makeKey('k3');
    iss.keys = [other.jwk, k1.jwk];
    const v = verifier();
    expect((await v.verify(await sign(k1, {}, { kid: null }))).ok).toBe(true);
    expect(await v.verify(await sign(stranger, {}, { kid: null }))).toMatchObject({
      ok: false,
      code: 'bad_signature',
    });
  });

  it('refuses malformed tokens, alg none and HMAC without asking the issuer', async () => {
    const v = verifier();
    expect(await v.verify('not-a-jwt')).toMatchObject({ ok: false, code: 'invalid_token' });
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = b64({ iss: iss.url, azp: 'a', exp: Math.floor(clock / 1000) + 60 });
    expect(await v.verify(`${b64({ alg: 'none' })}.${payload}.`)).toMatchObject({
      ok: false,
      code: 'invalid_token',
    });
    const hs = await new SignJWT({ iss: iss.url, azp: 'a', exp: Math.floor(clock / 1000) + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .sign(new TextEncoder().encode('shared-secret-shared-secret-1234'));
    expect(await v.verify(hs)).toMatchObject({ ok: false, code: 'invalid_token' });
    expect(jwksHits() + discoveryHits()).toBe(0);
  });

  it('concurrent first requests share one fetch', async () => {
    const v = verifier();
    const tokens = await Promise.all([1, 2, 3, 4, 5].map((n) => sign(k1, { sub: `u${n}` })));
    const outs = await Promise.all(tokens.map((t) => v.verify(t)));
    expect(outs.map((o) => (o.ok ? 'ok' : o.message))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(jwksHits()).toBe(1);
    expect(discoveryHits()).toBe(1);
  });

  it('an unreachable JWKS is jwks_unavailable, retried after a pause, then recovers', async () => {
    iss.failJwks = true;
    const v = verifier();
    const token = await sign(k1);
    expect(await v.verify(token)).toMatchObject({ ok: false, code: 'jwks_unavailable' });
    expect(await v.verify(token)).toMatchObject({ ok: false, code: 'jwks_unavailable' });
    expect(jwksHits()).toBe(1);
    iss.failJwks = false;
    clock += 1_000;
    expect((await v.verify(token)).ok).toBe(true);
    expect(jwksHits()).toBe(2);
    expect(v.jwks.stats).toEqual({ discoveryFetches: 1, jwksFetches: 2, failedFetches: 1 });
  });

  it('stale keys are refetched; if that fails the old keys stay in use', async () => {
    const v = verifier({ maxAgeMs: 60_000 });
    expect((await v.verify(await sign(k1))).ok).toBe(true);
    iss.failJwks = true;
    clock += 61_000;
    expect((await v.verify(await sign(k1, { sub: 'later' }))).ok).toBe(true);
    expect(jwksHits()).toBe(2);
  });

  it('refuses a discovery document naming another issuer', async () => {
    iss.discoveryIssuer = 'https://impostor.example.com';
    const out = await verifier().verify(await sign(k1));
    expect(out).toMatchObject({ ok: false, code: 'jwks_unavailable' });
    expect(jwksHits()).toBe(0);
  });
});
