/**
 * The gateway's request flow (ARCHITECTURE.md, "A request through the gateway"), strict mode: route by
 * Host/path → credentials → mapping rules → one atomic authrep through the authorization core (the
 * same code and counters the backend uses) → forward upstream, or the service's 3scale-style error.
 * The service table is rebuilt from SQL whenever a tenant's config version moves.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type AuthOutcome, authorizeRequest, NO_EXTENSIONS } from '../backend/authorize.js';
import type { BackendDeps } from '../backend/deps.js';
import type { UsageEventRecorder } from '../backend/events.js';
import { emptyParams, type ParamMap } from '../backend/params.js';
import { type CompiledRules, compileMappingRules, matchUsage } from '../domain/mapping.js';
import type { TenantState } from '../store/sql/repo/state.js';
import { type CredentialSettings, extractCredentials } from './credentials.js';
import type { GatewayMetrics } from './metrics.js';
import { type ForwardHooks, sendGatewayError, type UpstreamProxy } from './proxy.js';
import { compileRoutes, type Router } from './router.js';

/** The 3scale/APIcast default error answers of a service (status, text/plain body). */
export const GATEWAY_AUTH_ERRORS = {
  auth_missing: { status: 401, body: 'Authentication parameters missing' },
  auth_failed: { status: 403, body: 'Authentication failed' },
  no_match: { status: 404, body: 'No Mapping Rule matched' },
  limits_exceeded: { status: 429, body: 'Limits Exceeded' },
  service_unavailable: { status: 503, body: 'Service Unavailable' },
} as const;
type AuthErrorCode = keyof typeof GATEWAY_AUTH_ERRORS;

/** One service as the gateway runs it: compiled once per config version. */
export interface GatewayService {
  readonly id: string;
  readonly providerKey: string;
  readonly auth: CredentialSettings;
  readonly rules: CompiledRules;
  /** Metric id → system name (the authorization core takes usage by name). */
  readonly metricNames: ReadonlyMap<string, string>;
}

export interface GatewayConfig {
  readonly router: Router;
  readonly services: ReadonlyMap<string, GatewayService>;
}

/** Builds the gateway's config from the tenants' SQL state; services without hosts or upstream are skipped. */
export function buildGatewayConfig(states: readonly TenantState[]): GatewayConfig {
  const specs: { id: string; hosts: string[]; upstream: string }[] = [];
  const services = new Map<string, GatewayService>();
  for (const s of states) {
    for (const svc of s.services) {
      if (svc.hosts.length === 0 || svc.upstream === null) continue;
      specs.push({ id: svc.id, hosts: svc.hosts, upstream: svc.upstream });
      const metrics = s.metrics.filter((m) => m.serviceId === svc.id);
      const rules = s.mappingRules
        .filter((r) => r.serviceId === svc.id)
        .map((r) => ({
          method: r.method,
          pattern: r.pattern,
          metricId: r.metricId,
          delta: r.delta,
          last: r.last,
        }));
      services.set(svc.id, {
        id: svc.id,
        providerKey: s.tenant.providerKey,
        auth: {
          mode: svc.auth.mode,
          location: svc.auth.location,
          param: svc.auth.param,
          ...(svc.auth.key_param !== undefined ? { key_param: svc.auth.key_param } : {}),
        },
        rules: compileMappingRules(rules),
        metricNames: new Map(metrics.map((m) => [m.id, m.systemName])),
      });
    }
  }
  return { router: compileRoutes(specs), services };
}

function sendAuthError(res: ServerResponse, code: AuthErrorCode, retryAfter?: number): void {
  const e = GATEWAY_AUTH_ERRORS[code];
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=us-ascii',
    'content-length': e.body.length,
  };
  if (retryAfter !== undefined && retryAfter >= 0) headers['retry-after'] = retryAfter;
  res.writeHead(e.status, headers);
  res.end(e.body);
}

const STARTED = Symbol('tollgate.started');
type Timed = IncomingMessage & { [STARTED]?: number };

/** What the gateway decided for one call: forward it, or answer one of the service's errors. */
type Verdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: AuthErrorCode; readonly retryAfter?: number };
const FORWARD: Verdict = Object.freeze({ ok: true });
const verdict = (code: AuthErrorCode, retryAfter?: number): Verdict =>
  retryAfter === undefined ? { ok: false, code } : { ok: false, code, retryAfter };

export interface GatewayRuntime {
  readonly request: (req: IncomingMessage, res: ServerResponse) => void;
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Installs a new config version; requests in flight finish on the one they started with. */
  load(config: GatewayConfig): void;
}

export function createGatewayRuntime(opts: {
  readonly deps: BackendDeps;
  readonly proxy: UpstreamProxy;
  readonly events: UsageEventRecorder;
  readonly config: GatewayConfig;
  readonly onStoreError?: (err: unknown) => void;
  readonly metrics?: GatewayMetrics;
}): GatewayRuntime {
  let config = opts.config;
  const { deps, proxy, events, metrics } = opts;
  // Hooks are built once per service (no closure per request); the start time rides on the request.
  const hooks = new Map<string, ForwardHooks>();
  const hooksFor = (serviceId: string): ForwardHooks | undefined => {
    if (!metrics) return undefined;
    let h = hooks.get(serviceId);
    if (h === undefined) {
      h = {
        onDone(outcome, req) {
          const started = (req as Timed)[STARTED] ?? performance.now();
          metrics.observe(serviceId, outcome.status, performance.now() - started, outcome.upstreamMs);
        },
      };
      hooks.set(serviceId, h);
    }
    return h;
  };
  const ext = { ...NO_EXTENSIONS, limitHeaders: true };

  function outcomeVerdict(o: AuthOutcome): Verdict {
    if (o.kind === 'status') {
      if (o.authorized) {
        if (o.event !== null) events.record(o.event);
        return FORWARD;
      }
      return o.denyCode === 'limits_exceeded'
        ? verdict('limits_exceeded', o.limitHeaders?.reset)
        : verdict('auth_failed');
    }
    // Unknown keys and apps, and anything else wrong with the credentials, are authentication failures.
    return verdict('auth_failed');
  }

  /** Credentials → mapping → one atomic authrep (counts only when every limit allows). */
  function authorizeCall(
    svc: GatewayService,
    method: string,
    url: string,
    headers: IncomingMessage['headers'],
  ): Verdict | Promise<Verdict> {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const creds = extractCredentials(svc.auth, { headers, query });
    if (creds.kind === 'missing') return verdict('auth_missing');
    // OIDC services need the issuer settings that come with the gateway issue's OIDC work.
    if (creds.kind === 'oidc') return verdict('auth_failed');
    const matched = matchUsage(svc.rules, method, path, query);
    if (matched.usage === null) return verdict('no_match');
    const params: ParamMap = emptyParams();
    params.provider_key = svc.providerKey;
    params.service_id = svc.id;
    if (creds.kind === 'user_key') params.user_key = creds.userKey;
    else {
      params.app_id = creds.appId;
      if (creds.appKey !== undefined) params.app_key = creds.appKey;
    }
    const usage = emptyParams();
    for (const [metricId, delta] of matched.usage) {
      const name = svc.metricNames.get(metricId);
      if (name !== undefined) usage[name] = String(delta);
    }
    params.usage = usage;
    return authorizeRequest(deps, { endpoint: 'authrep', params, invalidUtf8: false, ext }).then(
      outcomeVerdict,
      (err) => {
        opts.onStoreError?.(err);
        return verdict('service_unavailable');
      },
    );
  }

  function route(req: IncomingMessage) {
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47) return null;
    const cfg = config;
    const r = cfg.router.match(req.headers.host, url);
    const svc = r === null ? undefined : cfg.services.get(r.id);
    return r === null || svc === undefined ? null : { route: r, svc, url };
  }

  function run(req: IncomingMessage, svc: GatewayService, url: string, then: (v: Verdict) => void): void {
    const v = authorizeCall(svc, req.method ?? 'GET', url, req.headers);
    if (v instanceof Promise) v.then(then);
    else then(v);
  }

  return {
    request(req, res) {
      const found = route(req);
      if (found === null) {
        sendGatewayError(res, (req.url ?? '/').charCodeAt(0) === 47 ? 'no_route' : 'bad_request');
        return;
      }
      if (metrics) (req as Timed)[STARTED] = performance.now();
      run(req, found.svc, found.url, (v) => {
        if (v.ok) {
          proxy.forward(req, res, found.route, hooksFor(found.svc.id));
          return;
        }
        sendAuthError(res, v.code, v.retryAfter);
        if (metrics) {
          const started = (req as Timed)[STARTED] ?? performance.now();
          metrics.observe(found.svc.id, GATEWAY_AUTH_ERRORS[v.code].status, performance.now() - started);
        }
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
          proxy.upgrade(req, socket, head, found.route);
          return;
        }
        const e = GATEWAY_AUTH_ERRORS[v.code];
        socket.end(
          `HTTP/1.1 ${e.status} ${e.body}\r\ncontent-type: text/plain; charset=us-ascii\r\nconnection: close\r\ncontent-length: ${e.body.length}\r\n\r\n${e.body}`,
        );
      });
    },

    load(next) {
      config = next;
    },
  };
}
