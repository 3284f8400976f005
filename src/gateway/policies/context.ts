/**
 * What one request through a service with a policy chain carries from phase to phase: the (rewritten)
 * request target, the upstream routing picked, the CORS origin to answer, and what the access log
 * reports. Services without policies never build one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import type { AppCredentials } from '../authz/types.js';
import type { ForwardOptions, ForwardOutcome, ForwardSettings } from '../proxy.js';
import type { Route, UpstreamTarget } from '../router.js';
import type { GatewayService } from '../service.js';
import type { PolicyChain } from './chain.js';

/** The request's policy context, found by this symbol on the request and the response. */
export const POLICY_CONTEXT = Symbol('tollgate.policy');
export type WithContext<T> = T & { [POLICY_CONTEXT]?: PolicyContext };

/** An answer a policy gives instead of forwarding (serialised once where it can be). */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | number>>;
  readonly body: Buffer;
}

export function makeAnswer(
  status: number,
  contentType: string | null,
  body: string | Buffer,
  extra?: Readonly<Record<string, string | number>>,
): Answer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  // 204 and 304 carry no Content-Length (RFC 9110 §8.6).
  const headers: Record<string, string | number> =
    status === 204 || status === 304 ? {} : { 'content-length': b.length };
  if (contentType !== null && b.length > 0) headers['content-type'] = contentType;
  if (extra !== undefined) Object.assign(headers, extra);
  return Object.freeze({ status, headers: Object.freeze(headers), body: b });
}

export class PolicyContext implements ForwardOptions {
  /** The request target now (url_rewriting changes it); mapping rules and the upstream see this one. */
  url: string;
  /** The path the client asked for (without the query): what the access log reports. */
  readonly originalPath: string;
  /** Routing's pick, else the service's upstream. */
  upstream: UpstreamTarget;
  readonly settings: ForwardSettings | null;
  /** `Access-Control-Allow-Origin` to answer with (cors), or null. */
  corsOrigin: string | null = null;
  /** The application the request was authorized as (access log). */
  application: string | null = null;
  /** The forwarded exchange's outcome (access log). */
  outcome: ForwardOutcome | null = null;
  private query: URLSearchParams | null = null;

  constructor(
    readonly req: IncomingMessage,
    /** null on the WebSocket upgrade path. */
    readonly res: ServerResponse | null,
    readonly svc: GatewayService,
    readonly chain: PolicyChain,
    /** The route the request matched (its upstream is the default one). */
    readonly route: Route,
    url: string,
    readonly started: number,
  ) {
    this.url = url;
    const q = url.indexOf('?');
    this.originalPath = q < 0 ? url : url.slice(0, q);
    this.upstream = route.upstream;
    this.settings = chain.forward;
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }

  /** The path of the current request target. */
  get path(): string {
    const q = this.url.indexOf('?');
    return q < 0 ? this.url : this.url.slice(0, q);
  }

  /** The query of the current request target, parsed once per target. */
  get params(): URLSearchParams {
    if (this.query === null) {
      const q = this.url.indexOf('?');
      this.query = new URLSearchParams(q < 0 ? '' : this.url.slice(q + 1));
    }
    return this.query;
  }

  /** Replaces the request target (the upstream gets it too). */
  setUrl(url: string): void {
    if (url === this.url) return;
    this.url = url;
    this.query = null;
    this.req.url = url;
  }

  /** The first value of a request header (lower-case name). */
  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return typeof v === 'string' ? v : v?.[0];
  }
}

/** The credentials a request presents before they are verified, for keying limits; null when none. */
export type PresentedCredentials = AppCredentials | { readonly kind: 'oidc'; readonly token: string };

/** Strips the IPv4-mapped IPv6 prefix node reports for IPv4 peers on dual-stack sockets. */
function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/**
 * The client IP from the sources in order (APIcast's `client_ip_sources`): `last_caller` is the peer
 * of the TCP connection; `X-Forwarded-For` takes the first address of the header (what the client's
 * first proxy saw: trust it only behind a proxy that sets it); `X-Real-IP` the header's address.
 * Null when no source yields a valid address.
 */
export function clientIp(req: IncomingMessage, sources: readonly string[]): string | null {
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i];
    let ip: string | undefined;
    if (s === 'last_caller') ip = req.socket.remoteAddress;
    else if (s === 'X-Forwarded-For') {
      const v = req.headers['x-forwarded-for'];
      if (typeof v === 'string') {
        const comma = v.indexOf(',');
        ip = (comma < 0 ? v : v.slice(0, comma)).trim();
      }
    } else if (s === 'X-Real-IP') {
      const v = req.headers['x-real-ip'];
      ip = typeof v === 'string' ? v.trim() : undefined;
    }
    if (ip !== undefined && net.isIP(ip) !== 0) return plainIp(ip);
  }
  return null;
}
