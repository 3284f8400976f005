/**
 * The gateway's request flow (ARCHITECTURE.md, "A request through the gateway"): route by Host/path →
 * credentials (identify.ts) → mapping rules → the service's authorizer (authz/) → forward upstream, or the
 * service's 3scale-style error. Config versions are swapped whole: a request finishes on the one it began with.
 *
 * A service with a policy chain (policies/) takes the same flow wrapped in its phases: the chain's
 * rewrite steps before credentials (they may answer, change the request or pick the upstream), its
 * default credentials, its forwarding settings and response steps, and its access log. A service
 * without one takes the plain path: no context object, no extra listener.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UsageEventPayload } from '../backend/events.js';
import { emptyParams, type ParamMap } from '../backend/params.js';
import type { UsageSink } from '../backend/usage-queue.js';
import { matchUsage } from '../domain/mapping.js';
import type { AuthorizerSet } from './authz/index.js';
import type { AppCredentials, RateLimitState, Verdict } from './authz/types.js';
import { createIdentifier, type Identifier, type Identity } from './identify.js';
import type { GatewayMetrics } from './metrics.js';
import { type PolicyChain, reason, runRewrite } from './policies/chain.js';
import { type Answer, POLICY_CONTEXT, PolicyContext, type WithContext } from './policies/context.js';
import { createPolicyEnv, type PolicyEnv } from './policies/env.js';
import { type ForwardHooks, sendGatewayError, type UpstreamProxy } from './proxy.js';
import type { Route } from './router.js';
import { type DenyCode, type GatewayConfig, type GatewayService, sendServiceError } from './service.js';

const STARTED = Symbol('tollgate.started');
const EVENT = Symbol('tollgate.usage');
/** What rides on a request through the exchange (no closure per request). */
type Timed = WithContext<IncomingMessage> & { [STARTED]?: number; [EVENT]?: UsageEventPayload | null };

const DENY: Readonly<Record<DenyCode, Verdict>> = {
  auth_missing: Object.freeze({ ok: false, code: 'auth_missing' }),
  auth_failed: Object.freeze({ ok: false, code: 'auth_failed' }),
  no_match: Object.freeze({ ok: false, code: 'no_match' }),
  limits_exceeded: Object.freeze({ ok: false, code: 'limits_exceeded' }),
  service_unavailable: Object.freeze({ ok: false, code: 'service_unavailable' }),
};

/**
 * The usage parameter map of a mapping outcome. The same rules always give the same usage, so each
 * service keeps one frozen map per set of matched rules (rule indices under 31, as a bit mask): the
 * authorization core then parses it once (`processUsageOf`), not on every call.
 */
const usageMaps = new WeakMap<GatewayService, Map<number, ParamMap>>();

function usageOf(
  svc: GatewayService,
  rules: readonly number[],
  usage: ReadonlyMap<string, number>,
): ParamMap {
  let mask = 0;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (r > 30) return buildUsage(svc, usage);
    mask |= 1 << r;
  }
  let maps = usageMaps.get(svc);
  if (maps === undefined) {
    maps = new Map();
    usageMaps.set(svc, maps);
  }
  let m = maps.get(mask);
  if (m === undefined) {
    m = Object.freeze(buildUsage(svc, usage));
    maps.set(mask, m);
  }
  return m;
}

function buildUsage(svc: GatewayService, usage: ReadonlyMap<string, number>): ParamMap {
  const out = emptyParams();
  for (const [metricId, delta] of usage) {
    const name = svc.metricNames.get(metricId);
    if (name !== undefined) out[name] = String(delta);
  }
  return out;
}

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
  readonly usage: UsageSink;
  readonly config: GatewayConfig;
  readonly metrics?: GatewayMetrics;
  readonly identifier?: Identifier;
  /** What policies use from the process (logger, Redis, rate-limit state); default: none of it. */
  readonly policies?: PolicyEnv;
}): GatewayRuntime {
  let config = opts.config;
  const { authorizers, proxy, usage, metrics } = opts;
  const identifier = opts.identifier ?? createIdentifier();
  const env = opts.policies ?? createPolicyEnv();
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
    return authorizers.decide({ svc, creds, usage: usageOf(svc, matched.rules, matched.usage) });
  }

  function fromIdentity(
    id: Identity,
    svc: GatewayService,
    method: string,
    path: string,
    query: URLSearchParams,
    defaults: AppCredentials | null,
  ) {
    if (id === 'missing')
      return defaults === null ? DENY.auth_missing : decide(svc, defaults, method, path, query);
    if (id === 'failed') return DENY.auth_failed;
    if (id === 'unavailable') return DENY.service_unavailable;
    return decide(svc, id, method, path, query);
  }

  /** Credentials (or the chain's defaults when none are presented) → mapping → the service's authorizer. */
  function authorizeCall(
    svc: GatewayService,
    req: IncomingMessage,
    url: string,
    defaults: AppCredentials | null = null,
  ): Verdict | Promise<Verdict> {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    const id = identifier.identify(svc, req, query);
    if (id instanceof Promise) return id.then((i) => fromIdentity(i, svc, method, path, query, defaults));
    return fromIdentity(id, svc, method, path, query, defaults);
  }

  type Found = { route: Route; svc: GatewayService; url: string };

  function route(req: IncomingMessage): Found | null {
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47) return null;
    const cfg = config;
    const r = cfg.router.match(hostOf(req), url);
    const svc = r === null ? undefined : cfg.services.get(r.id);
    return r === null || svc === undefined ? null : { route: r, svc, url };
  }

  /** Forwards an allowed call (with RateLimit fields when the service asks), or answers the denial. */
  function finish(req: IncomingMessage, res: ServerResponse, found: Found, v: Verdict): void {
    const svc = found.svc;
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

  // ---- services with a policy chain ----

  /** Forward hooks of every service with a chain (the request's context names the service). */
  const chainHooks: ForwardHooks = {
    onResponseHeaders(status, headers, req) {
      const ctx = (req as Timed)[POLICY_CONTEXT];
      if (ctx === undefined) return status;
      const steps = ctx.chain.response;
      let s = status;
      for (let i = 0; i < steps.length; i++) s = steps[i]!(ctx, s, headers);
      return s;
    },
    onDone(outcome, req) {
      const t = req as Timed;
      const ctx = t[POLICY_CONTEXT];
      if (ctx === undefined) return;
      ctx.outcome = outcome;
      const started = t[STARTED];
      const latencyMs = started === undefined ? outcome.upstreamMs : performance.now() - started;
      metrics?.observe(ctx.svc.id, outcome.status, latencyMs, outcome.upstreamMs);
      const event = t[EVENT];
      if (event != null) usage.record(event, outcome, latencyMs);
    },
  };

  /** One access-log line when the response is done (a listener shared by every request: no closure). */
  function onLogClose(this: WithContext<ServerResponse>): void {
    const ctx = this[POLICY_CONTEXT];
    if (ctx === undefined || ctx.chain.log === null) return;
    try {
      ctx.chain.log.write(ctx, env);
    } catch (err) {
      env.warn('logging', { err }, 'access log line not written', 60_000);
    }
  }

  function sendAnswer(ctx: PolicyContext, a: Answer): void {
    const res = ctx.res!;
    if (!res.headersSent) {
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    }
    metrics?.observe(ctx.svc.id, a.status, performance.now() - ctx.started);
  }

  /** A step failed unexpectedly (a bug, not a verdict): the service's 503, and a log line. */
  function chainFailed(ctx: PolicyContext, err: unknown): void {
    env.warn(`chain:${ctx.svc.id}`, { err, service: ctx.svc.id }, 'policy chain failed', 10_000);
    if (ctx.res !== null)
      deny(ctx.req, ctx.res, ctx.svc, DENY.service_unavailable as Verdict & { ok: false });
    else ctx.req.socket.destroy(); // the upgrade path: no answer owed on a raw socket
  }

  function runChain(req: Timed, res: ServerResponse, found: Found, chain: PolicyChain): void {
    const ctx = new PolicyContext(req, res, found.svc, chain, found.route, found.url, req[STARTED]!);
    req[POLICY_CONTEXT] = ctx;
    if (chain.log !== null) {
      (res as WithContext<ServerResponse>)[POLICY_CONTEXT] = ctx;
      res.once('close', onLogClose);
    }
    let a: ReturnType<typeof runRewrite>;
    try {
      a = runRewrite(ctx, env, chain.rewrite);
    } catch (err) {
      chainFailed(ctx, err);
      return;
    }
    if (a instanceof Promise)
      a.then(
        (x) => afterRewrite(ctx, x),
        (err: unknown) => chainFailed(ctx, err),
      );
    else afterRewrite(ctx, a);
  }

  function afterRewrite(ctx: PolicyContext, a: Answer | null): void {
    if (a !== null) {
      sendAnswer(ctx, a);
      return;
    }
    const v = authorizeCall(ctx.svc, ctx.req, ctx.url, ctx.chain.defaultCredentials);
    if (v instanceof Promise) v.then((x) => forwardChain(ctx, x));
    else forwardChain(ctx, v);
  }

  function forwardChain(ctx: PolicyContext, v: Verdict): void {
    const { req, svc } = ctx;
    const res = ctx.res!;
    if (!v.ok) {
      deny(req, res, svc, v);
      return;
    }
    (req as Timed)[EVENT] = v.event;
    ctx.application = v.event?.appId ?? null;
    if (svc.rateLimitHeaders && v.rate !== undefined) {
      res.setHeader('ratelimit-limit', v.rate.limit);
      res.setHeader('ratelimit-remaining', v.rate.remaining);
      res.setHeader('ratelimit-reset', v.rate.reset);
    }
    proxy.forward(req, res, ctx.route, chainHooks, ctx);
  }

  function upgradeChain(req: Timed, socket: Duplex, head: Buffer, found: Found, chain: PolicyChain): void {
    const ctx = new PolicyContext(req, null, found.svc, chain, found.route, found.url, performance.now());
    req[POLICY_CONTEXT] = ctx;
    const then = (a: Answer | null) => {
      if (a !== null) {
        rawAnswer(socket, a.status, a.headers, a.body);
        return;
      }
      const v = authorizeCall(ctx.svc, req, ctx.url, chain.defaultCredentials);
      const go = (x: Verdict) => {
        if (x.ok) {
          req[EVENT] = x.event;
          proxy.upgrade(req, socket, head, found.route, hooksFor(found.svc.id), ctx);
          return;
        }
        const e = found.svc.errors[x.code];
        rawAnswer(socket, e.status, { 'content-type': e.contentType }, e.body);
      };
      if (v instanceof Promise) v.then(go);
      else go(v);
    };
    let a: ReturnType<typeof runRewrite>;
    try {
      a = runRewrite(ctx, env, chain.rewrite);
    } catch (err) {
      chainFailed(ctx, err);
      return;
    }
    if (a instanceof Promise) a.then(then, (err: unknown) => chainFailed(ctx, err));
    else then(a);
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
      const chain = svc.chain;
      if (chain != null) {
        runChain(req, res, found, chain);
        return;
      }
      const v = authorizeCall(svc, req, found.url);
      if (v instanceof Promise) v.then((x) => finish(req, res, found, x));
      else finish(req, res, found, v);
    },

    upgrade(req, socket, head) {
      const found = route(req);
      if (found === null) {
        socket.destroy();
        return;
      }
      const chain = found.svc.chain;
      if (chain != null) {
        upgradeChain(req, socket, head, found, chain);
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
        rawAnswer(socket, e.status, { 'content-type': e.contentType }, e.body);
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

/** The request's Host, read from the raw list (node's header object is built lazily: not for this). */
function hostOf(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') return raw[i + 1];
  }
  return undefined;
}

/** An answer on a socket that was handed over for an upgrade (no ServerResponse there); then it closes. */
function rawAnswer(
  socket: Duplex,
  status: number,
  headers: Readonly<Record<string, string | number>>,
  body: Buffer,
): void {
  let head = `HTTP/1.1 ${status} ${reason(status)}\r\n`;
  for (const name of Object.keys(headers)) {
    if (name !== 'content-length' && name !== 'connection') head += `${name}: ${headers[name]}\r\n`;
  }
  head += `connection: close\r\ncontent-length: ${body.length}\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head), body]));
}
