/** Credential extraction per service (user_key, app_id + app_key, OIDC bearer), and stripping before forwarding. */
import type { AuthMode } from '../domain/model.js';

/**
 * A service's credential settings (the config's `auth`). Defaults follow the config resolver and APIcast:
 * location `query` (`header` for oidc); param `user_key` / `app_id` (+ key_param `app_key`); for oidc the
 * `Authorization` header, or the `access_token` query param.
 */
export interface CredentialSettings {
  readonly mode: AuthMode;
  readonly location?: 'query' | 'header';
  readonly param?: string;
  readonly key_param?: string;
  /** Forward the credentials to the upstream unchanged (APIcast's behaviour). Default true. */
  readonly forward_credentials?: boolean;
}

/** Request headers as node gives them (names usually lower-cased) or any plain record. */
export type HeaderRecord = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Request query: parsed params, or a plain record as node's querystring gives. */
export type QueryRecord = URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;

/** What the request presented. `missing` is the service's "authentication missing" error (no counting). */
export type Credentials =
  | { readonly kind: 'user_key'; readonly userKey: string }
  | { readonly kind: 'app_id'; readonly appId: string; readonly appKey?: string }
  | { readonly kind: 'oidc'; readonly token: string }
  | { readonly kind: 'missing' };

const MISSING: Credentials = Object.freeze({ kind: 'missing' });
// RFC 6750 §2.1: `Authorization: Bearer <b64token>`; the scheme name is case-insensitive (RFC 9110 §11.1).
const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** The names a service's credentials travel under, resolved once from its settings. */
interface Names {
  readonly location: 'query' | 'header';
  readonly primary: string;
  readonly key?: string;
}

function namesOf(s: CredentialSettings): Names {
  switch (s.mode) {
    case 'user_key':
      return { location: s.location ?? 'query', primary: s.param ?? 'user_key' };
    case 'app_id':
      return { location: s.location ?? 'query', primary: s.param ?? 'app_id', key: s.key_param ?? 'app_key' };
    case 'oidc': {
      const location = s.location ?? 'header';
      if (location === 'header') return { location, primary: s.param ?? 'Authorization' };
      // The config resolver defaults `param` to `Authorization` whatever the location; as a query
      // param that name means the OAuth one (RFC 6750 §2.3).
      const p = s.param === undefined || s.param.toLowerCase() === 'authorization' ? 'access_token' : s.param;
      return { location, primary: p };
    }
  }
}

/**
 * Reads the credentials `settings` call for. Empty values count as absent. Header names match
 * case-insensitively and with `-` and `_` interchangeable (nginx's `$http_x_y`, which APIcast reads);
 * query names match exactly, then case-insensitively (nginx's `$arg_x`); a repeated param counts by its
 * first value, as nginx's `$arg_x` does. For oidc a bearer token in `Authorization` is always accepted
 * (RFC 6750 §2.1, as APIcast does), whatever the location.
 */
export function extractCredentials(
  settings: CredentialSettings,
  req: { readonly headers: HeaderRecord; readonly query: QueryRecord },
): Credentials {
  const names = namesOf(settings);
  const read = (name: string): string | undefined =>
    names.location === 'header' ? headerValue(req.headers, name) : queryValue(req.query, name);
  switch (settings.mode) {
    case 'user_key': {
      const userKey = read(names.primary);
      return userKey === undefined ? MISSING : { kind: 'user_key', userKey };
    }
    case 'app_id': {
      const appId = read(names.primary);
      if (appId === undefined) return MISSING;
      // app_key may be absent: an application without keys authorizes on app_id alone (3scale backend).
      const appKey = read(names.key!);
      return appKey === undefined ? { kind: 'app_id', appId } : { kind: 'app_id', appId, appKey };
    }
    case 'oidc': {
      let token: string | undefined;
      if (names.location === 'header') {
        const v = headerValue(req.headers, names.primary);
        // A custom header may carry the bare token; `Authorization` must use the Bearer scheme.
        if (v !== undefined) token = bearerToken(v) ?? (isAuthorization(names.primary) ? undefined : v);
      } else {
        token = queryValue(req.query, names.primary);
      }
      if (token === undefined) {
        const auth = headerValue(req.headers, 'authorization');
        if (auth !== undefined) token = bearerToken(auth);
      }
      return token === undefined ? MISSING : { kind: 'oidc', token };
    }
  }
}

/**
 * What is forwarded upstream. With `forward_credentials` true (the default, as APIcast forwards the
 * request untouched) the inputs come back as they are; with false the credential params (query) or
 * headers are removed, and for oidc a bearer `Authorization` header too. Inputs are never mutated;
 * the rest of the query string keeps its exact bytes.
 */
export function stripCredentials(
  settings: CredentialSettings,
  url: string,
  headers: HeaderRecord,
): { url: string; headers: HeaderRecord } {
  if (settings.forward_credentials !== false) return { url, headers };
  const names = namesOf(settings);
  const list = names.key === undefined ? [names.primary] : [names.primary, names.key];
  let outHeaders = headers;
  let outUrl = url;
  if (names.location === 'header') outHeaders = withoutHeaders(headers, list);
  else outUrl = withoutParams(url, list);
  if (settings.mode === 'oidc') {
    const auth = headerValue(outHeaders, 'authorization');
    if (auth !== undefined && bearerToken(auth) !== undefined)
      outHeaders = withoutHeaders(outHeaders, ['authorization']);
  }
  return { url: outUrl, headers: outHeaders };
}

function bearerToken(v: string): string | undefined {
  const m = BEARER.exec(v);
  return m === null ? undefined : m[1];
}

function isAuthorization(name: string): boolean {
  return name.toLowerCase() === 'authorization';
}

/** nginx's header variable name: lower case, `-` as `_`. */
function headerKey(name: string): string {
  return name.toLowerCase().replaceAll('-', '_');
}

function first(v: string | readonly string[] | undefined): string | undefined {
  const s = typeof v === 'string' ? v : v?.[0];
  return s === undefined || s === '' ? undefined : s;
}

function headerValue(headers: HeaderRecord, name: string): string | undefined {
  const lower = name.toLowerCase();
  if (Object.hasOwn(headers, lower)) {
    const v = first(headers[lower]);
    if (v !== undefined) return v;
  }
  const key = headerKey(name);
  for (const k of Object.keys(headers)) {
    if (headerKey(k) === key) {
      const v = first(headers[k]);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

function queryValue(query: QueryRecord, name: string): string | undefined {
  if (query instanceof URLSearchParams) {
    const exact = query.get(name);
    if (exact !== null) return exact === '' ? undefined : exact;
    const lower = name.toLowerCase();
    for (const [k, v] of query) if (k.toLowerCase() === lower) return v === '' ? undefined : v;
    return undefined;
  }
  if (Object.hasOwn(query, name)) return first(query[name]);
  const lower = name.toLowerCase();
  for (const k of Object.keys(query)) if (k.toLowerCase() === lower) return first(query[k]);
  return undefined;
}

function withoutHeaders(headers: HeaderRecord, names: readonly string[]): HeaderRecord {
  const drop = new Set(names.map(headerKey));
  const out: Record<string, string | readonly string[] | undefined> = {};
  for (const [k, v] of Object.entries(headers)) if (!drop.has(headerKey(k))) out[k] = v;
  return out;
}

function decodeParamName(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}

function withoutParams(url: string, names: readonly string[]): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash === -1 ? undefined : hash);
  const tail = hash === -1 ? '' : url.slice(hash);
  const drop = new Set(names.map((n) => n.toLowerCase()));
  const kept = query.split('&').filter((pair) => {
    const eq = pair.indexOf('=');
    return !drop.has(decodeParamName(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase());
  });
  return kept.length === 0 ? url.slice(0, q) + tail : `${url.slice(0, q)}?${kept.join('&')}${tail}`;
}
