/**
 * The gateway's request flow (ARCHITECTURE.md, "A request through the gateway"): route by Host/path →
 * credentials (identify.ts) → mapping rules → the service's authorizer (authz/) → forward upstream, or the
 * service's 3scale-style error. Config versions are swapped whole: a request finishes on the one it began with.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UsageEventPayload } from '../backend/events.js';
import { emptyParams } from '../backend/params.js';
import { matchUsage } from '../domain/mapping.js';
import type { AuthorizerSet } from './authz/index.js';
import type { AppCredentials, RateLimitState, Verdict } from './authz/types.js';
import { createIdentifier, type Identifier, type Identity } from './identify.js';
import type { GatewayMetrics } from './metrics.js';
import { type ForwardHooks, sendGatewayError, type UpstreamProxy } from './proxy.js';
import type { Route } from './router.js';
import { type DenyCode, type GatewayConfig, type GatewayService, sendServiceError } from './service.js';
import type { GatewayUsageSink } from './usage.js';

const STARTED = Symbol('tollgate.started');
const EVENT = Symbol('tollgate.usage');
/** What rides on a request through the exchange (no closure per request). */
type Timed = IncomingMessage & { [STARTED]?: number; [EVENT]?: UsageEventPayload | null };

const DENY: Readonly<Record<DenyCode, Verdict>> = {
  auth_missing: Object.freeze({ ok: false, code: 'auth_missing' }),
  auth_failed: Object.freeze({ ok: false, code: 'auth_failed' }),
  no_match: Object.freeze({ ok: false, code: 'no_match' }),
  limits_exceeded: Object.freeze({ ok: false, code: 'limits_exceeded' }),
  service_unavailable: Object.freeze({ ok: false, code: 'service_unavailable' }),
};

/** `RateLimit-*` fields (draft-ietf-httpapi-ratelimit-headers) for a service that asks for them. */
function rateHeaders(rate: RateLimitState | undefined): Record<string, number> | undefined {
  if (rate === undefined) return undefined;
  return {
    'ratelimit-limit': rate.limit,
    'ratelimit-remaining': rate.remaining,
    'ratelimit-reset': rate.reset,
  };
}

export interface GatewayRuntime {
  readonly request: (req: IncomingMessage, res: ServerResponse) => void;
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Installs a new config version; requests in flight finish on the one they started with. */
  load(config: GatewayConfig): void;
  /** The config now served. */
  readonly config: GatewayConfig;
}

export function createGatewayRuntime(opts: {
  readonly authorizers: AuthorizerSet;
  readonly proxy: UpstreamProxy;
  readonly usage: GatewayUsageSink;
  readonly config: GatewayConfig;
  readonly metrics?: GatewayMetrics;
  readonly identifier?: Identifier;
}): GatewayRuntime {
  let config = opts.config;
  const { authorizers, proxy, usage, metrics } = opts;
  const identifier = opts.identifier ?? createIdentifier();
  // Hooks are built once per service (no closure per request); the start time rides on the request.
  const hooks = new Map<string, ForwardHooks>();
  const hooksFor = (serviceId: string): ForwardHooks | undefined => {
    let h = hooks.get(serviceId);
    if (h === undefined) {
      h = {
        onDone(outcome, req) {
          const t = req as Timed;
          const started = t[STARTED];
          const latencyMs = started === undefined ? outcome.upstreamMs : performance.now() - started;
          metrics?.observe(serviceId, outcome.status, latencyMs, outcome.upstreamMs);
          const event = t[EVENT];
          if (event != null) usage.record(event, outcome, latencyMs);
        },
      };
      hooks.set(serviceId, h);
    }
    return h;
  };

  function decide(
    svc: GatewayService,
    creds: AppCredentials,
    method: string,
    path: string,
    query: URLSearchParams,
  ) {
    const matched = matchUsage(svc.rules, method, path, query);
    if (matched.usage === null) return DENY.no_match;
    const usage = emptyParams();
    for (const [metricId, delta] of matched.usage) {
      const name = svc.metricNames.get(metricId);
      if (name !== undefined) usage[name] = String(delta);
    }
    return authorizers.decide({ svc, creds, usage });
  }

  function fromIdentity(
    id: Identity,
    svc: GatewayService,
    method: string,
    path: string,
    query: URLSearchParams,
  ) {
    if (id === 'missing') return DENY.auth_missing;
    if (id === 'failed') return DENY.auth_failed;
    if (id === 'unavailable') return DENY.service_unavailable;
    return decide(svc, id, method, path, query);
  }

  /** Credentials → mapping → the service's authorizer. */
  function authorizeCall(svc: GatewayService, req: IncomingMessage, url: string): Verdict | Promise<Verdict> {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    const id = identifier.identify(svc, req.headers, query);
    if (id instanceof Promise) return id.then((i) => fromIdentity(i, svc, method, path, query));
    return fromIdentity(id, svc, method, path, query);
  }

  function route(req: IncomingMessage): { route: Route; svc: GatewayService; url: string } | null {
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47) return null;
    const cfg = config;
    const r = cfg.router.match(req.headers.host, url);
    const svc = r === null ? undefined : cfg.services.get(r.id);
    return r === null || svc === undefined ? null : { route: r, svc, url };
  }

  function run(req: IncomingMessage, svc: GatewayService, url: string, then: (v: Verdict) => void): void {
    const v = authorizeCall(svc, req, url);
    if (v instanceof Promise) v.then(then);
    else then(v);
  }

  function deny(
    req: IncomingMessage,
    res: ServerResponse,
    svc: GatewayService,
    v: Verdict & { ok: false },
  ): void {
    const e = svc.errors[v.code];
    let extra: Record<string, string | number> | undefined =
      svc.rateLimitHeaders && v.rate !== undefined ? rateHeaders(v.rate) : undefined;
    if (v.retryAfter !== undefined && v.retryAfter >= 0) extra = { ...extra, 'retry-after': v.retryAfter };
    sendServiceError(res, e, extra);
    if (metrics) {
      const started = (req as Timed)[STARTED] ?? performance.now();
      metrics.observe(svc.id, e.status, performance.now() - started);
    }
  }

  return {
    request(req, res) {
      const found = route(req);
      if (found === null) {
        sendGatewayError(res, (req.url ?? '/').charCodeAt(0) === 47 ? 'no_route' : 'bad_request');
        return;
      }
      (req as Timed)[STARTED] = performance.now();
      const { svc } = found;
      run(req, svc, found.url, (v) => {
        if (!v.ok) {
          deny(req, res, svc, v);
          return;
        }
        (req as Timed)[EVENT] = v.event;
        if (svc.rateLimitHeaders && v.rate !== undefined) {
          res.setHeader('ratelimit-limit', v.rate.limit);
          res.setHeader('ratelimit-remaining', v.rate.remaining);
          res.setHeader('ratelimit-reset', v.rate.reset);
        }
        proxy.forward(req, res, found.route, hooksFor(svc.id));
      });
    },

    upgrade(req, socket, head) {
      const found = route(req);
      if (found === null) {
        socket.destroy();
        return;
      }
      // Upgrades are authorized and counted like any call before the tunnel opens.
      run(req, found.svc, found.url, (v) => {
        if (v.ok) {
          (req as Timed)[EVENT] = v.event;
          proxy.upgrade(req, socket, head, found.route, hooksFor(found.svc.id));
          return;
        }
        const e = found.svc.errors[v.code];
        socket.end(
          Buffer.concat([
            Buffer.from(
              `HTTP/1.1 ${e.status} Error\r\ncontent-type: ${e.contentType}\r\nconnection: close\r\ncontent-length: ${e.body.length}\r\n\r\n`,
            ),
            e.body,
          ]),
        );
      });
    },

    load(next) {
      config = next;
    },

    get config() {
      return config;
    },
  };
}
