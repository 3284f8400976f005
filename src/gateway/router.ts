/** Gateway routing: picks a service by `Host` (exact, then `*.` wildcard) and the longest path prefix. */

/** One service as the router sees it (a slice of the service config). */
export interface RouteSpec {
  readonly id: string;
  /** Host names without port; `*.example.com` matches any subdomain of example.com (not example.com itself). */
  readonly hosts: readonly string[];
  /** Path prefix matched on segment boundaries (`/api` matches `/api` and `/api/x`, not `/apix`). */
  readonly pathPrefix?: string;
  /** Upstream base URL, `http(s)://host[:port][/base/path]`. */
  readonly upstream: string;
}

/** The upstream of a route, parsed once at compile time so the proxy does no URL work per request. */
export interface UpstreamTarget {
  /** `http://host:port` — the key of the proxy's keep-alive pool. */
  readonly origin: string;
  /** Base path without trailing slash (`''` when the URL has none); prefixed to the request path. */
  readonly basePath: string;
  /** Value sent as `Host` to the upstream (port only when not the scheme's default). */
  readonly host: string;
  readonly hostname: string;
  readonly port: number;
  readonly secure: boolean;
}

/** A compiled route: what `match` returns and what the proxy forwards to. */
export interface Route {
  readonly id: string;
  readonly pathPrefix: string;
  readonly upstream: UpstreamTarget;
}

export interface Router {
  /** The route for a `Host` header value and a request target (query string allowed), or null. */
  match(hostHeader: string | undefined, path: string): Route | null;
  readonly routes: readonly Route[];
}

/** Parses an upstream URL; throws on anything but http(s) so a bad config fails at compile time. */
export function parseUpstream(url: string): UpstreamTarget {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`upstream ${url}: only http and https are supported`);
  }
  if (u.search || u.hash || u.username || u.password) {
    throw new Error(`upstream ${url}: query, fragment and credentials are not allowed`);
  }
  const secure = u.protocol === 'https:';
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  const basePath = u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname;
  return {
    origin: `${u.protocol}//${u.host}`,
    basePath,
    host: u.host,
    // URL keeps IPv6 literals bracketed; sockets want them bare.
    hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
    port,
    secure,
  };
}

/** Lower-cases a `Host` value and drops its port and a trailing dot; IPv6 literals keep their brackets. */
export function normalizeHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close === -1 ? end : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  const h = end === host.length ? host : host.slice(0, end);
  return h.toLowerCase();
}

function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  const p = prefix.startsWith('/') ? prefix : `/${prefix}`;
  return p.endsWith('/') ? p.slice(0, -1) : p;
}

/**
 * What two services must not share: a host and path prefix, normalised as the router matches them (case,
 * port and trailing slash ignored). Config checks, apply and the admin API refuse a clash by this key.
 */
export function routeKey(host: string, prefix: string | undefined): string {
  return `${normalizeHost(host.trim())} ${normalizePrefix(prefix)}`;
}

/** True when `path` is `prefix` or continues it at a segment boundary (`/`, `?`). */
function prefixMatches(prefix: string, path: string): boolean {
  if (prefix.length === 0) return true;
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 47 /* / */ || next === 63 /* ? */;
}

/** Routes of one host, longest prefix first. */
function pick(list: readonly Route[] | undefined, path: string): Route | null {
  if (list === undefined) return null;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (prefixMatches(r.pathPrefix, path)) return r;
  }
  return null;
}

/**
 * Compiles the services of one config version into a router. When two services claim the same host and
 * prefix, or a host or upstream is malformed, it throws — or, given `onSkip`, leaves out that host (clash;
 * the service seen first keeps it) or that service (malformed) and reports it, so one tenant's mistake
 * cannot stop every other tenant's config from loading.
 */
export function compileRoutes(
  services: readonly RouteSpec[],
  onSkip?: (serviceId: string, reason: string) => void,
): Router {
  const exact = new Map<string, Route[]>();
  // Wildcards keyed by their suffix (`.example.com`); tried longest suffix first.
  const wild = new Map<string, Route[]>();
  const routes: Route[] = [];
  const claimed = new Map<string, string>();

  const fault = (id: string, reason: string): void => {
    if (onSkip === undefined) throw new Error(reason);
    onSkip(id, reason);
  };
  for (const s of services) {
    let route: Route;
    try {
      route = Object.freeze({
        id: s.id,
        pathPrefix: normalizePrefix(s.pathPrefix),
        upstream: Object.freeze(parseUpstream(s.upstream)),
      });
      for (const raw of s.hosts) {
        const host = normalizeHost(raw.trim());
        const name = host.startsWith('*.') ? host.slice(1) : host;
        if (name.length < 2 || name.includes('*')) throw new Error(`service ${s.id}: invalid host ${raw}`);
      }
    } catch (err) {
      fault(s.id, (err as Error).message);
      continue;
    }
    routes.push(route);
    for (const raw of s.hosts) {
      const host = normalizeHost(raw.trim());
      const isWild = host.startsWith('*.');
      const name = isWild ? host.slice(1) : host;
      const key = routeKey(raw, s.pathPrefix);
      const other = claimed.get(key);
      if (other !== undefined && other !== s.id) {
        fault(s.id, `services ${other} and ${s.id} both route ${host}${route.pathPrefix || '/'}`);
        continue;
      }
      claimed.set(key, s.id);
      const map = isWild ? wild : exact;
      const list = map.get(name) ?? [];
      if (!list.includes(route)) list.push(route);
      map.set(name, list);
    }
  }
  for (const list of [...exact.values(), ...wild.values()]) {
    list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
  }
  const suffixes = [...wild.keys()].sort((a, b) => b.length - a.length);

  return {
    routes,
    match(hostHeader, path) {
      if (hostHeader === undefined || hostHeader.length === 0) return null;
      const host = normalizeHost(hostHeader);
      const hit = pick(exact.get(host), path);
      if (hit !== null || wild.size === 0) return hit;
      for (let i = 0; i < suffixes.length; i++) {
        const suffix = suffixes[i]!;
        // `host.length > suffix.length` keeps `*.example.com` from matching `example.com`.
        if (host.length > suffix.length && host.endsWith(suffix)) {
          const r = pick(wild.get(suffix), path);
          if (r !== null) return r;
        }
      }
      return null;
    },
  };
}
