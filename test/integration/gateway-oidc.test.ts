// Credentials end to end through a gateway process: OIDC bearer JWTs verified against a real issuer (discovery
// document + JWKS on a local port, counted), and user_key / app_id + app_key from the query or a header under
// configurable names.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Started, startRoles } from '../support/proc.js';
import { currentValue, get } from './http.js';

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function makeKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const listen = (s: http.Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
const close = (s: http.Server) =>
  new Promise<void>((r) => {
    s.closeAllConnections();
    s.close(() => r());
  });

describe('gateway credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-gw-cred-'));
  let upstream: http.Server;
  let issuerServer: http.Server;
  let issuer = '';
  let p: Started;
  let gw = '';
  const seen: string[] = [];
  const hits = new Map<string, number>();
  let published: JWK[] = [];
  let k1: SigningKey;
  let k2: SigningKey;
  let impostor: SigningKey;

  beforeAll(async () => {
    [k1, k2, impostor] = await Promise.all([makeKey('k1'), makeKey('k2'), makeKey('k1')]);
    published = [k1.jwk];
    issuerServer = http.createServer((req, res) => {
      hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration')
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      else if (req.url === '/jwks') res.end(JSON.stringify({ keys: published }));
      else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    issuer = `http://127.0.0.1:${await listen(issuerServer)}`;
    upstream = http.createServer((req, res) => {
      seen.push(`${req.headers['x-forwarded-host']} ${req.url}`);
      res.end('ok');
    });
    const up = `http://127.0.0.1:${await listen(upstream)}`;
    const gone = http.createServer();
    const deadIssuer = `http://127.0.0.1:${await listen(gone)}`;
    await close(gone);
    const svc = (id: string, name: string, auth: string) => `
      - id: "${id}"
        system_name: ${name}
        upstream: ${up}
        hosts: [${name}.cred.test]
        auth: ${auth}
        metrics: [ { system_name: hits } ]
        mapping_rules: [ { method: GET, pattern: "/", metric: hits } ]
        plans: [ { system_name: p, limits: { hits: { day: 1000 } } } ]`;
    writeFileSync(
      join(dir, 'cred.yaml'),
      `version: 1
tenants:
  - name: cred
    provider_key: cred-provider-key
    services:${svc('8801', 'oidc', `{ mode: oidc, issuer: "${issuer}" }`)}${svc(
      '8802',
      'aud',
      `{ mode: oidc, issuer: "${issuer}", jwks_url: "${issuer}/jwks", audience: orders-api }`,
    )}${svc('8803', 'oidcq', `{ mode: oidc, issuer: "${issuer}", location: query, param: jwt }`)}${svc(
      '8804',
      'ukh',
      '{ mode: user_key, location: header, param: X-Api-Key }',
    )}${svc('8805', 'ukq', '{ mode: user_key, location: query, param: apikey }')}${svc(
      '8806',
      'aih',
      '{ mode: app_id, location: header, param: X-App-Id, key_param: X-App-Key }',
    )}${svc('8807', 'aiq', '{ mode: app_id, location: query, param: id, key_param: key }')}${svc(
      '8808',
      'dark',
      `{ mode: oidc, issuer: "${deadIssuer}" }`,
    )}
    accounts:
      - name: Dev
        applications:
          - { name: O, service: oidc, plan: p, app_id: client-1 }
          - { name: A, service: aud, plan: p, app_id: client-1 }
          - { name: Q, service: oidcq, plan: p, app_id: client-1 }
          - { name: UH, service: ukh, plan: p, user_key: uk-header }
          - { name: UQ, service: ukq, plan: p, user_key: uk-query }
          - { name: AH, service: aih, plan: p, app_id: ah-id, app_keys: [ah-key] }
          - { name: AQ, service: aiq, plan: p, app_id: aq-id, app_keys: [aq-key] }
`,
    );
    p = await startRoles(dir, join(dir, 'cred.yaml'), ['gateway', 'backend']);
    gw = `http://127.0.0.1:${p.ports.gateway}`;
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
    await Promise.all([upstream, issuerServer].filter(Boolean).map(close));
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (path: string, host: string, headers: Record<string, string> = {}) => {
    const res = await request(`${gw}${path}`, { headers: { host, ...headers } });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const jwksHits = () => hits.get('/jwks') ?? 0;
  const sign = (key: SigningKey, claims: JWTPayload = {}, kid = key.kid) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: issuer, azp: 'client-1', iat: now, exp: now + 600, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid })
      .sign(key.privateKey);
  };
  const counted = async (serviceId: string, creds: string) => {
    const r = await get(
      `http://127.0.0.1:${p.ports.backend}/transactions/authorize.xml?provider_key=cred-provider-key&service_id=${serviceId}&${creds}`,
    );
    expect(r.status).toBe(200);
    return r.body;
  };

  describe('OIDC', () => {
    it('forwards a valid token and counts the call for the application named by azp', async () => {
      const token = await sign(k1);
      const ok = await call('/x', 'oidc.cred.test', bearer(token));
      expect([ok.status, ok.body]).toEqual([200, 'ok']);
      expect(seen).toContain('oidc.cred.test /x');
      expect(hits.get('/.well-known/openid-configuration')).toBe(1);
      expect(jwksHits()).toBe(1);
      // client_id names the application when azp is absent (RFC 9068).
      const cid = await sign(k1, { azp: undefined, client_id: 'client-1' });
      expect((await call('/x', 'oidc.cred.test', bearer(cid))).status).toBe(200);
      // The local core counted both calls on the application whose app_id is the client id.
      expect(currentValue(await counted('8801', 'app_id=client-1'), 'hits', 'day')).toBe(2);
    });

    it('refuses expired, badly signed, foreign and unknown-client tokens with auth_failed; no token is auth_missing', async () => {
      const now = Math.floor(Date.now() / 1000);
      const cases = await Promise.all([
        sign(k1, { iat: now - 700, exp: now - 60 }),
        sign(impostor), // kid k1, another key
        sign(k1, { iss: 'https://evil.example.com' }),
        sign(k1, { azp: 'nobody' }), // valid token, no such application
        sign(k1, { azp: undefined }),
      ]);
      for (const t of cases) {
        const r = await call('/x', 'oidc.cred.test', bearer(t));
        expect([r.status, r.body]).toEqual([403, 'Authentication failed']);
      }
      expect((await call('/x', 'oidc.cred.test', bearer('not-a-jwt'))).status).toBe(403);
      const missing = await call('/x', 'oidc.cred.test');
      expect([missing.status, missing.body]).toEqual([401, 'Authentication parameters missing']);
      // Basic is not a bearer token.
      expect(
        (await call('/x', 'oidc.cred.test', { authorization: 'Basic Y2xpZW50OnNlY3JldA==' })).status,
      ).toBe(401);
      expect(jwksHits()).toBe(1);
    });

    it('checks the audience when the service names one', async () => {
      const right = await sign(k1, { aud: ['orders-api', 'other'] });
      expect((await call('/x', 'aud.cred.test', bearer(right))).status).toBe(200);
      const wrong = await sign(k1, { aud: 'billing-api' });
      expect((await call('/x', 'aud.cred.test', bearer(wrong))).status).toBe(403);
      const none = await sign(k1);
      expect((await call('/x', 'aud.cred.test', bearer(none))).status).toBe(403);
    });

    it('reads the token from a query param when the service says so', async () => {
      const token = await sign(k1, { sub: 'q' });
      expect((await call(`/x?jwt=${token}`, 'oidcq.cred.test')).status).toBe(200);
      expect((await call('/x?jwt=', 'oidcq.cred.test')).status).toBe(401);
      // A bearer header is still accepted (RFC 6750 §2.1).
      expect((await call('/x', 'oidcq.cred.test', bearer(token))).status).toBe(200);
    });

    it('follows a key rotation with one refetch, keeps verified tokens until exp, and rate-limits unknown kids', async () => {
      const before = jwksHits();
      const oldToken = await sign(k1, { sub: 'before-rotation' });
      expect((await call('/x', 'oidc.cred.test', bearer(oldToken))).status).toBe(200);
      // The issuer rotates: k1 is withdrawn, k2 signs from now on.
      published = [k2.jwk];
      const fresh = await sign(k2);
      expect((await call('/x', 'oidc.cred.test', bearer(fresh))).status).toBe(200);
      expect(jwksHits()).toBe(before + 1);
      // The token verified before the rotation is cached until its exp: no verification against the new set.
      expect((await call('/x', 'oidc.cred.test', bearer(oldToken))).status).toBe(200);
      // A new token under the withdrawn kid is refused, and causes no fetch inside the window.
      expect((await call('/x', 'oidc.cred.test', bearer(await sign(k1, { sub: 'late' })))).status).toBe(403);
      // A burst of made-up kids: refused, and the issuer is not asked again.
      const burst = await Promise.all(
        Array.from({ length: 10 }, (_, i) => sign(k2, { sub: `b${i}` }, `ghost-${i}`)),
      );
      const answers = await Promise.all(burst.map((t) => call('/x', 'oidc.cred.test', bearer(t))));
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(403));
      expect(jwksHits()).toBe(before + 1);
      // Tokens verified once are not verified again while valid: repeated calls cause no fetch either.
      for (let i = 0; i < 5; i++)
        expect((await call('/x', 'oidc.cred.test', bearer(fresh))).status).toBe(200);
      expect(jwksHits()).toBe(before + 1);
    });

    it('a cached token is refused once its exp has passed', async () => {
      const now = Math.floor(Date.now() / 1000);
      const short = await sign(k2, { sub: 'short', exp: now + 2 });
      expect((await call('/x', 'oidc.cred.test', bearer(short))).status).toBe(200);
      await new Promise((r) => setTimeout(r, (now + 2) * 1000 - Date.now() + 200));
      expect((await call('/x', 'oidc.cred.test', bearer(short))).status).toBe(403);
    });
  });

  it("an issuer that cannot be reached is the gateway's problem: 503, not the client's", async () => {
    const r = await call('/x', 'dark.cred.test', bearer(await sign(k2)));
    expect([r.status, r.body]).toEqual([503, 'Service Unavailable']);
  });

  describe('user_key and app_id under configured names', () => {
    it('user_key from a named header (any case, - or _), not from the query', async () => {
      expect((await call('/x', 'ukh.cred.test', { 'x-api-key': 'uk-header' })).status).toBe(200);
      expect((await call('/x', 'ukh.cred.test', { X_API_KEY: 'uk-header' })).status).toBe(200);
      expect((await call('/x', 'ukh.cred.test', { 'x-api-key': 'other' })).status).toBe(403);
      expect((await call('/x?X-Api-Key=uk-header', 'ukh.cred.test')).status).toBe(401);
      expect((await call('/x?user_key=uk-header', 'ukh.cred.test')).status).toBe(401);
    });

    it('user_key from a named query param, not from headers or the default name', async () => {
      expect((await call('/x?apikey=uk-query', 'ukq.cred.test')).status).toBe(200);
      expect((await call('/x?apikey=nope', 'ukq.cred.test')).status).toBe(403);
      expect((await call('/x?user_key=uk-query', 'ukq.cred.test')).status).toBe(401);
      expect((await call('/x', 'ukq.cred.test', { apikey: 'uk-query' })).status).toBe(401);
      expect(currentValue(await counted('8805', 'user_key=uk-query'), 'hits', 'day')).toBe(1);
    });

    it('app_id + app_key from named headers', async () => {
      const h = (id: string, key?: string) => ({ 'x-app-id': id, ...(key ? { 'x-app-key': key } : {}) });
      expect((await call('/x', 'aih.cred.test', h('ah-id', 'ah-key'))).status).toBe(200);
      expect((await call('/x', 'aih.cred.test', h('ah-id', 'wrong'))).status).toBe(403);
      expect((await call('/x', 'aih.cred.test', h('ah-id'))).status).toBe(403);
      expect((await call('/x', 'aih.cred.test', h('nobody', 'ah-key'))).status).toBe(403);
      expect((await call('/x?app_id=ah-id&app_key=ah-key', 'aih.cred.test')).status).toBe(401);
    });

    it('app_id + app_key from named query params', async () => {
      expect((await call('/x?id=aq-id&key=aq-key', 'aiq.cred.test')).status).toBe(200);
      expect((await call('/x?id=aq-id&key=nope', 'aiq.cred.test')).status).toBe(403);
      expect((await call('/x?app_id=aq-id&app_key=aq-key', 'aiq.cred.test')).status).toBe(401);
      expect(currentValue(await counted('8807', 'app_id=aq-id&app_key=aq-key'), 'hits', 'day')).toBe(1);
    });
  });
});
