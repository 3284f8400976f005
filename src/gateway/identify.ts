/**
 * Step 2 of a request through the gateway: the application's credentials. user_key and app_id (+ app_key)
 * are read as the service says; an OIDC bearer JWT is verified against its issuer's JWKS (verifiers are
 * shared by services with the same issuer settings, so their key and token caches are too) and names its
 * application by `azp` / `client_id`.
 */

import type { ServiceAuth } from '../store/sql/repo/records.js';
import type { AppCredentials } from './authz/types.js';
import { extractCredentials, type HeaderRecord } from './credentials.js';
import { OidcVerifier } from './oidc.js';
import type { GatewayService } from './service.js';

/** `missing`: the service's auth_missing answer; `failed`: auth_failed; `unavailable`: the issuer could not be asked. */
export type Identity = AppCredentials | 'missing' | 'failed' | 'unavailable';

export interface IdentifyOptions {
  /** Settings for the verifiers' JWKS fetches (tests shorten them). */
  readonly oidc?: { readonly minRefetchIntervalMs?: number; readonly timeoutMs?: number };
}

export interface Identifier {
  /** `req.headers` is only read when the service takes credentials from headers (node builds it lazily). */
  identify(
    svc: GatewayService,
    req: { readonly headers: HeaderRecord },
    query: URLSearchParams,
  ): Identity | Promise<Identity>;
}

const NO_HEADERS: HeaderRecord = Object.freeze({});

export function createIdentifier(opts: IdentifyOptions = {}): Identifier {
  const verifiers = new Map<string, OidcVerifier>();
  // Per settings object (a config version's), so a request does no key building; equal settings across
  // config versions share one verifier (and its keys and verified tokens) through `verifiers`.
  const bySettings = new WeakMap<ServiceAuth, OidcVerifier>();
  const verifierFor = (svc: GatewayService): OidcVerifier | null => {
    const a = svc.authConfig;
    const known = bySettings.get(a);
    if (known !== undefined) return known;
    if (a.issuer === undefined) return null;
    const key = `${a.issuer}\n${a.jwks_url ?? ''}\n${a.audience ?? ''}`;
    let v = verifiers.get(key);
    if (v === undefined) {
      v = new OidcVerifier({
        issuer: a.issuer,
        ...(a.jwks_url !== undefined ? { jwksUri: a.jwks_url } : {}),
        ...(a.audience !== undefined ? { audience: a.audience } : {}),
        ...(opts.oidc?.minRefetchIntervalMs !== undefined
          ? { minRefetchIntervalMs: opts.oidc.minRefetchIntervalMs }
          : {}),
        ...(opts.oidc?.timeoutMs !== undefined ? { timeoutMs: opts.oidc.timeoutMs } : {}),
      });
      verifiers.set(key, v);
    }
    bySettings.set(a, v);
    return v;
  };
  return {
    identify(svc, req, query) {
      const a = svc.auth;
      const headers = a.location === 'header' || a.mode === 'oidc' ? req.headers : NO_HEADERS;
      const creds = extractCredentials(a, { headers, query });
      switch (creds.kind) {
        case 'missing':
          return 'missing';
        case 'user_key':
        case 'app_id':
          return creds;
        case 'oidc': {
          const v = verifierFor(svc);
          if (v === null) return 'failed';
          return v.verify(creds.token).then((o): Identity => {
            if (o.ok) return { kind: 'app_id', appId: o.appId };
            return o.code === 'jwks_unavailable' ? 'unavailable' : 'failed';
          });
        }
      }
    },
  };
}
