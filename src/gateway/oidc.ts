/** OIDC bearer tokens: an issuer's JWKS (discovered, cached, rate-limited refetch) and JWT verification with jose. */
import {
  type CryptoKey,
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type JWTPayload,
  jwtVerify,
  type LocalJWKSet,
  type ProtectedHeaderParameters,
} from 'jose';

/** Where the keys come from and how often they may be fetched. */
export interface JwksCacheOptions {
  /** The issuer, exactly as tokens carry it in `iss`. */
  readonly issuer: string;
  /** The JWKS address; when absent it is read from `<issuer>/.well-known/openid-configuration`. */
  readonly jwksUri?: string;
  /**
   * Least time between two fetches caused by an unknown `kid` (other fetches — the first, stale keys —
   * do not count). Default 30 s (jose's cooldown).
   */
  readonly minRefetchIntervalMs?: number;
  /** Keys older than this are refetched on next use (old keys kept if that fails). Default 10 min. */
  readonly maxAgeMs?: number;
  /** Per HTTP request to the issuer. Default 5 s. */
  readonly timeoutMs?: number;
  /** Clock in ms since the epoch; tests pass a fake one. */
  readonly now?: () => number;
}

/** Why keys could not be had. `jwks_unavailable` is the issuer's fault (answer 503), the others the token's. */
export type KeyLookup =
  | { readonly ok: true; readonly keys: readonly CryptoKey[] }
  | {
      readonly ok: false;
      readonly code: 'unknown_kid' | 'jwks_unavailable' | 'invalid_token';
      readonly message: string;
    };

/** Counters for /metrics and tests. */
export interface JwksStats {
  discoveryFetches: number;
  jwksFetches: number;
  failedFetches: number;
}

/** An issuer's signing keys, fetched once and again only when stale or on an unknown `kid` (rate-limited). */
export class JwksCache {
  readonly stats: JwksStats = { discoveryFetches: 0, jwksFetches: 0, failedFetches: 0 };
  private readonly issuer: string;
  private jwksUri: string | undefined;
  private readonly minRefetchMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private set: LocalJWKSet | null = null;
  private fetchedAt = 0;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  /** When an unknown kid last caused a fetch. */
  private kidFetchAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;
  private lastFailure: string | undefined;

  constructor(opts: JwksCacheOptions) {
    this.issuer = opts.issuer;
    this.jwksUri = opts.jwksUri;
    this.minRefetchMs = opts.minRefetchIntervalMs ?? 30_000;
    this.maxAgeMs = opts.maxAgeMs ?? 600_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  /** The keys that may have signed a token with this header (several when it names no `kid`). */
  async keysFor(header: ProtectedHeaderParameters): Promise<KeyLookup> {
    const sinceAttempt = this.now() - this.attemptedAt;
    if (this.set === null) {
      // Without keys every request waits on the issuer; while it fails, try at most once a second.
      const due = this.inflight !== null || sinceAttempt >= Math.min(this.minRefetchMs, 1_000);
      const failure = due ? await this.refresh() : this.lastFailure;
      if (this.set === null) return { ok: false, code: 'jwks_unavailable', message: failure ?? 'no keys' };
    } else if (this.now() - this.fetchedAt > this.maxAgeMs && sinceAttempt >= this.minRefetchMs) {
      await this.refresh(); // on failure the old keys stay in use
    }
    const first = await this.lookup(header);
    if (first.ok || first.code !== 'unknown_kid') return first;
    // An unknown kid may be a key the issuer has just rotated in; ask again, at most once per window
    // so that tokens with made-up kids cannot turn the gateway into a flood against the issuer. The
    // window runs from the last fetch an unknown kid caused: a key rotated in just after a scheduled
    // (first or stale-keys) fetch is still found at once.
    if (this.inflight === null) {
      if (this.now() - this.kidFetchAt < this.minRefetchMs) return first;
      this.kidFetchAt = this.now();
    }
    await this.refresh();
    return this.lookup(header);
  }

  private async lookup(header: ProtectedHeaderParameters): Promise<KeyLookup> {
    const set = this.set!;
    try {
      return { ok: true, keys: [await set(header as JWSHeaderParameters)] };
    } catch (err) {
      if (err instanceof errors.JWKSMultipleMatchingKeys) {
        const keys: CryptoKey[] = [];
        for await (const k of err) keys.push(k as CryptoKey);
        return { ok: true, keys };
      }
      if (err instanceof errors.JWKSNoMatchingKey) {
        return {
          ok: false,
          code: 'unknown_kid',
          message: `no key for kid ${JSON.stringify(header.kid ?? null)}`,
        };
      }
      if (err instanceof errors.JOSEError) return { ok: false, code: 'invalid_token', message: err.message };
      throw err;
    }
  }

  /** One fetch at a time; concurrent callers share it. Resolves to an error message on failure. */
  private refresh(): Promise<string | undefined> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = null;
    });
    return this.inflight.then(
      () => undefined,
      (err: unknown) => {
        this.lastFailure = err instanceof Error ? err.message : String(err);
        return this.lastFailure;
      },
    );
  }

  private async load(): Promise<void> {
    this.attemptedAt = this.now();
    try {
      if (this.jwksUri === undefined) {
        const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
        this.stats.discoveryFetches++;
        const doc = (await this.getJson(url)) as { issuer?: unknown; jwks_uri?: unknown };
        // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one we asked about.
        if (doc.issuer !== this.issuer)
          throw new Error(`discovery issuer ${String(doc.issuer)} is not ${this.issuer}`);
        if (typeof doc.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri');
        this.jwksUri = doc.jwks_uri;
      }
      this.stats.jwksFetches++;
      const jwks = (await this.getJson(this.jwksUri)) as JSONWebKeySet;
      this.set = createLocalJWKSet(jwks);
      this.fetchedAt = this.now();
    } catch (err) {
      this.stats.failedFetches++;
      throw err;
    }
  }

  private async getJson(url: string): Promise<unknown> {
    const res = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`GET ${url}: HTTP ${res.status}`);
    }
    return res.json();
  }
}

/** Verification settings on top of the key source. */
export interface OidcVerifierOptions extends JwksCacheOptions {
  /** When set, `aud` must contain (one of) these. */
  readonly audience?: string | readonly string[];
  /** Leeway for `exp` / `nbf`, in seconds. Default 0. */
  readonly clockToleranceSec?: number;
  /** Accepted signature algorithms. Default: the asymmetric JWS ones (never `none` or HMAC). */
  readonly algorithms?: readonly string[];
  /** Verified tokens kept (LRU) until their `exp`. Default 10 000. */
  readonly tokenCacheSize?: number;
}

/** Why a token was refused. `jwks_unavailable` is not the client's fault. */
export type OidcFailureCode =
  | 'invalid_token'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'unknown_kid'
  | 'no_client_id'
  | 'jwks_unavailable';

/** A verified token's application (`azp`, else `client_id`), or why it was refused. */
export type OidcOutcome =
  | { readonly ok: true; readonly appId: string; readonly claims: JWTPayload; readonly expiresAt: number }
  | { readonly ok: false; readonly code: OidcFailureCode; readonly message: string };

export interface OidcStats {
  verifications: number;
  cacheHits: number;
}

const ASYMMETRIC = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

type Verified = {
  readonly ok: true;
  readonly appId: string;
  readonly claims: JWTPayload;
  readonly expiresAt: number;
};

/** Verifies bearer JWTs of one issuer; verified tokens are cached until `exp`. */
export class OidcVerifier {
  readonly jwks: JwksCache;
  readonly stats: OidcStats = { verifications: 0, cacheHits: 0 };
  private readonly opts: OidcVerifierOptions;
  private readonly now: () => number;
  private readonly algorithms: readonly string[];
  private readonly maxCached: number;
  // Map iteration order is insertion order: the first key is the least recently used.
  private readonly cache = new Map<string, Verified>();

  constructor(opts: OidcVerifierOptions) {
    this.opts = opts;
    this.jwks = new JwksCache(opts);
    this.now = opts.now ?? Date.now;
    this.algorithms = opts.algorithms ?? ASYMMETRIC;
    this.maxCached = opts.tokenCacheSize ?? 10_000;
  }

  async verify(token: string): Promise<OidcOutcome> {
    const hit = this.cache.get(token);
    if (hit !== undefined) {
      this.cache.delete(token);
      if (hit.expiresAt > this.now()) {
        this.cache.set(token, hit);
        this.stats.cacheHits++;
        return hit;
      }
    }
    const outcome = await this.verifyUncached(token);
    if (outcome.ok) {
      this.cache.set(token, outcome);
      if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    }
    return outcome;
  }

  private async verifyUncached(token: string): Promise<OidcOutcome> {
    this.stats.verifications++;
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (err) {
      return fail('invalid_token', err instanceof Error ? err.message : 'malformed token');
    }
    // Refuse disallowed algorithms before any key lookup: such a token must not cause a JWKS fetch.
    if (typeof header.alg !== 'string' || !this.algorithms.includes(header.alg)) {
      return fail('invalid_token', `algorithm ${JSON.stringify(header.alg ?? null)} not allowed`);
    }
    const found = await this.jwks.keysFor(header);
    if (!found.ok) return fail(found.code, found.message);
    let lastError: unknown;
    for (const key of found.keys) {
      try {
        const { payload } = await jwtVerify(token, key, {
          issuer: this.opts.issuer,
          audience: this.opts.audience as string | string[] | undefined,
          algorithms: [...this.algorithms],
          clockTolerance: this.opts.clockToleranceSec ?? 0,
          currentDate: new Date(this.now()),
          requiredClaims: ['exp'],
        });
        return accept(payload);
      } catch (err) {
        lastError = err;
        // Another key of the set may have signed it (a token without kid); claim errors are final.
        if (err instanceof errors.JWSSignatureVerificationFailed) continue;
        break;
      }
    }
    return refusal(lastError);
  }
}

function fail(code: OidcFailureCode, message: string): OidcOutcome {
  return { ok: false, code, message };
}

function accept(claims: JWTPayload): OidcOutcome {
  // APIcast reads the client id from `azp` (its claim_with_client_id default); `client_id` is RFC 9068's.
  const appId = nonEmpty(claims.azp) ?? nonEmpty(claims.client_id);
  if (appId === undefined) return fail('no_client_id', 'token has neither azp nor client_id');
  return { ok: true, appId, claims, expiresAt: (claims.exp as number) * 1000 };
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function refusal(err: unknown): OidcOutcome {
  if (err instanceof errors.JWTExpired) return fail('expired', err.message);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return fail('wrong_issuer', err.message);
    if (err.claim === 'aud') return fail('wrong_audience', err.message);
    if (err.claim === 'nbf') return fail('not_yet_valid', err.message);
    return fail('invalid_token', err.message);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return fail('bad_signature', err.message);
  if (err instanceof errors.JOSEError) return fail('invalid_token', err.message);
  throw err;
}
