/**
 * A service's policy chain, compiled once per config version from its stored entries: each enabled
 * policy's configuration is parsed (defaults filled) and turned into steps of the request's phases.
 *
 * Phases (docs/policies.md): `rewrite` steps run before credentials, in chain order, and may answer the
 * request themselves (cors preflight, maintenance_mode, ip_check, payload_limits, rate_limit) or change
 * it (url_rewriting, headers, routing); default_credentials stand in when a request presents none;
 * forwarding takes the chain's settings (upstream_connection, retry, payload_limits); `response` steps
 * edit the upstream's answer (cors, headers, statuscode_overwrite); logging writes one line at the end.
 */
import { type IncomingHttpHeaders, STATUS_CODES } from 'node:http';
import net from 'node:net';
import {
  CREDENTIAL_HEADERS,
  type PolicyConfig,
  type PolicyName,
  parsePolicyConfig,
} from '../../config/policies.js';
import { POLICY_NAMES } from '../../config/schema.js';
import type { PolicyEntry } from '../../store/sql/repo/catalog.js';
import type { AppCredentials } from '../authz/types.js';
import { type CredentialSettings, extractCredentials } from '../credentials.js';
import type { ForwardSettings, ProxyHeaders } from '../proxy.js';
import { parseUpstream, type UpstreamTarget } from '../router.js';
import type { CompiledError } from '../service.js';
import { compileCondition } from './condition.js';
import { type Answer, clientIp, makeAnswer, type PolicyContext } from './context.js';
import type { PolicyEnv } from './env.js';
import { redisBucket, redisFixed } from './rate-limit.js';

/** A step before credentials: null to go on, an answer to stop there (maybe after I/O). */
export type RewriteStep = (ctx: PolicyContext, env: PolicyEnv) => Answer | null | Promise<Answer | null>;
/** A step over the upstream's response head; returns the status to send. */
export type ResponseStep = (ctx: PolicyContext, status: number, headers: ProxyHeaders) => number;

/** One JSON access-log line per request (logging policy). */
export interface AccessLog {
  write(ctx: PolicyContext, env: PolicyEnv): void;
}

export interface PolicyChain {
  /** The enabled policies' names, in order (for diagnostics). */
  readonly names: readonly PolicyName[];
  readonly rewrite: readonly RewriteStep[];
  /** Used when the request presents no credentials (default_credentials). */
  readonly defaultCredentials: AppCredentials | null;
  /** Forwarding settings, or null for the proxy's defaults. */
  readonly forward: ForwardSettings | null;
  readonly response: readonly ResponseStep[];
  readonly log: AccessLog | null;
}

/** What of the service the chain's compilation needs. */
export interface ChainService {
  readonly id: string;
  readonly auth: CredentialSettings;
  readonly errors: { readonly limits_exceeded: CompiledError };
}

const POLICY_SET: ReadonlySet<string> = new Set(POLICY_NAMES);

function jsonError(status: number, code: string, message: string, extra?: Record<string, string>): Answer {
  return makeAnswer(status, 'application/json', JSON.stringify({ code, status, message }), extra);
}

// ---- cors ------------------------------------------------------------------------------------------

function originMatcher(allow: PolicyConfig<'cors'>['allow_origin']): (origin: string) => string | null {
  if (allow === undefined) return (o) => o;
  const list = typeof allow === 'string' ? [allow] : allow;
  if (list.includes('*')) return () => '*';
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const o of list) {
    const star = o.indexOf('://*.');
    if (star < 0) exact.add(o.toLowerCase());
    else {
      const scheme = o.slice(0, star);
      const rest = o.slice(star + 5).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      patterns.push(new RegExp(`^${scheme}://[a-z0-9-]+(\\.[a-z0-9-]+)*\\.${rest}$`, 'i'));
    }
  }
  return (o) => {
    if (exact.has(o.toLowerCase())) return o;
    for (const p of patterns) if (p.test(o)) return o;
    return null;
  };
}

function addVary(headers: ProxyHeaders, name: string): void {
  const v = headers.vary;
  if (v === undefined) headers.vary = name;
  else {
    const s = typeof v === 'string' ? v : v.join(', ');
    if (
      !s
        .toLowerCase()
        .split(/\s*,\s*/)
        .includes(name.toLowerCase()) &&
      s.trim() !== '*'
    )
      headers.vary = `${s}, ${name}`;
  }
}

function compileCors(c: PolicyConfig<'cors'>): { rewrite: RewriteStep; response: ResponseStep } {
  const match = originMatcher(c.allow_origin);
  const credentials = c.allow_credentials;
  const methods = c.allow_methods?.join(', ');
  const allowHeaders = c.allow_headers?.join(', ');
  const expose = c.expose_headers.length > 0 ? c.expose_headers.join(', ') : undefined;
  const maxAge = String(c.max_age);
  /** A credentialed request cannot use `*` (Fetch standard): the origin is echoed instead. */
  const allowed = (origin: string): string | null => {
    const a = match(origin);
    return a === '*' && credentials ? origin : a;
  };
  return {
    rewrite(ctx) {
      const origin = ctx.header('origin');
      if (origin === undefined) return null;
      const allow = allowed(origin);
      const requested = ctx.header('access-control-request-method');
      if (ctx.method === 'OPTIONS' && requested !== undefined) {
        // Preflight: answered here, before credentials (a browser sends none with it).
        const h: Record<string, string> = {};
        if (allow !== null) {
          h['access-control-allow-origin'] = allow;
          if (credentials) h['access-control-allow-credentials'] = 'true';
          h['access-control-allow-methods'] = methods ?? requested;
          const reqHeaders = allowHeaders ?? ctx.header('access-control-request-headers');
          if (reqHeaders !== undefined) h['access-control-allow-headers'] = reqHeaders;
          h['access-control-max-age'] = maxAge;
        }
        if (allow !== '*') h.vary = 'Origin';
        return makeAnswer(204, null, '', h);
      }
      if (allow === null) return null;
      ctx.corsOrigin = allow;
      const res = ctx.res;
      if (res !== null) {
        // On the response now, so the gateway's own answers (401, 429, 502…) carry them too.
        res.setHeader('access-control-allow-origin', allow);
        if (credentials) res.setHeader('access-control-allow-credentials', 'true');
        if (expose !== undefined) res.setHeader('access-control-expose-headers', expose);
        if (allow !== '*') res.setHeader('vary', 'Origin');
      }
      return null;
    },
    response(ctx, status, headers) {
      const allow = ctx.corsOrigin;
      if (allow === null) return status;
      headers['access-control-allow-origin'] = allow;
      if (credentials) headers['access-control-allow-credentials'] = 'true';
      if (expose !== undefined) headers['access-control-expose-headers'] = expose;
      if (allow !== '*') addVary(headers, 'Origin');
      return status;
    },
  };
}

// ---- headers ---------------------------------------------------------------------------------------

type HeaderCommand = PolicyConfig<'headers'>['request'][number];
type Editable = Record<string, string | string[] | undefined>;

/** Applies set/add/push/delete; `join` appends to a single comma-joined value (request headers). */
function editHeaders(h: Editable, cmds: readonly HeaderCommand[], join: boolean): void {
  for (let i = 0; i < cmds.length; i++) {
    const c = cmds[i]!;
    const name = c.header;
    const prev = h[name];
    switch (c.op) {
      case 'set':
        h[name] = c.value!;
        break;
      case 'delete':
        delete h[name];
        break;
      case 'add':
      case 'push':
        if (prev === undefined) {
          if (c.op === 'push') h[name] = c.value!;
        } else if (typeof prev === 'string') h[name] = join ? `${prev}, ${c.value!}` : [prev, c.value!];
        else if (join) h[name] = `${prev.join(', ')}, ${c.value!}`;
        else h[name] = [...prev, c.value!];
        break;
    }
  }
}

function lowerCommands(cmds: readonly HeaderCommand[]): HeaderCommand[] {
  return cmds.map((c) => ({ ...c, header: c.header.toLowerCase() }));
}

// ---- url_rewriting ---------------------------------------------------------------------------------

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}

type QueryCommand = PolicyConfig<'url_rewriting'>['query_args_commands'][number];

/** Edits raw `a=b&c=d` pairs; untouched pairs keep their exact bytes. */
function editQuery(raw: string, cmds: readonly QueryCommand[], method: string): string {
  let pairs = raw === '' ? [] : raw.split('&');
  const nameOf = (p: string) => {
    const eq = p.indexOf('=');
    return decodeName(eq < 0 ? p : p.slice(0, eq));
  };
  for (const c of cmds) {
    if (c.methods.length > 0 && !c.methods.includes(method as never)) continue;
    const enc = `${encodeURIComponent(c.arg)}=${encodeURIComponent(c.value ?? '')}`;
    switch (c.op) {
      case 'delete':
        pairs = pairs.filter((p) => nameOf(p) !== c.arg);
        break;
      case 'push':
        pairs.push(enc);
        break;
      case 'add':
        if (pairs.some((p) => nameOf(p) === c.arg)) pairs.push(enc);
        break;
      case 'set': {
        const at = pairs.findIndex((p) => nameOf(p) === c.arg);
        if (at < 0) pairs.push(enc);
        else pairs = pairs.flatMap((p, i) => (i === at ? [enc] : nameOf(p) === c.arg ? [] : [p]));
        break;
      }
    }
  }
  return pairs.join('&');
}

function compileUrlRewriting(c: PolicyConfig<'url_rewriting'>): RewriteStep {
  const commands = c.commands.map((cmd) => ({
    re: new RegExp(cmd.regex, cmd.op === 'gsub' ? `${cmd.options}g` : cmd.options),
    replace: cmd.replace,
    brk: cmd.break,
    methods: cmd.methods.length > 0 ? new Set<string>(cmd.methods) : null,
  }));
  const queryCommands = c.query_args_commands;
  return (ctx) => {
    const method = ctx.method;
    const url = ctx.url;
    const q = url.indexOf('?');
    let path = q < 0 ? url : url.slice(0, q);
    let query = q < 0 ? '' : url.slice(q + 1);
    for (const cmd of commands) {
      if (cmd.methods !== null && !cmd.methods.has(method)) continue;
      const next = path.replace(cmd.re, cmd.replace);
      if (next === path) continue;
      path = next;
      if (cmd.brk) break;
    }
    if (path.charCodeAt(0) !== 47 /* / */) path = `/${path}`;
    if (queryCommands.length > 0) query = editQuery(query, queryCommands, method);
    ctx.setUrl(query === '' ? path : `${path}?${query}`);
    return null;
  };
}

// ---- ip_check --------------------------------------------------------------------------------------

function compileIpCheck(c: PolicyConfig<'ip_check'>): RewriteStep {
  const list = new net.BlockList();
  for (const entry of c.cidrs) {
    const slash = entry.indexOf('/');
    const type = net.isIPv4(slash < 0 ? entry : entry.slice(0, slash)) ? 'ipv4' : 'ipv6';
    if (slash < 0) list.addAddress(entry, type);
    else list.addSubnet(entry.slice(0, slash), Number(entry.slice(slash + 1)), type);
  }
  const deny = makeAnswer(c.status, 'text/plain; charset=utf-8', c.error_msg);
  const sources = c.client_ip_sources;
  const allowList = c.check_type === 'allow';
  return (ctx) => {
    const ip = clientIp(ctx.req, sources);
    // An unknown client IP is not on any list: an allow list refuses it, a deny list lets it through.
    const listed = ip !== null && list.check(ip, net.isIPv4(ip) ? 'ipv4' : 'ipv6');
    return listed === allowList ? null : deny;
  };
}

// ---- payload_limits --------------------------------------------------------------------------------

function compileRequestLimit(limit: number): RewriteStep {
  const tooLarge = jsonError(413, 'payload_too_large', 'the body is larger than the service allows', {
    connection: 'close',
  });
  return (ctx) => {
    const cl = ctx.req.headers['content-length'];
    return cl !== undefined && Number(cl) > limit ? tooLarge : null;
  };
}

// ---- rate_limit ------------------------------------------------------------------------------------

type KeyFn = (ctx: PolicyContext) => string | null;

function credentialKey(auth: CredentialSettings, defaults: () => AppCredentials | null): KeyFn {
  return (ctx) => {
    const c = extractCredentials(auth, { headers: ctx.req.headers, query: ctx.params });
    switch (c.kind) {
      case 'user_key':
        return `k:${c.userKey}`;
      case 'app_id':
        return `a:${c.appId}`;
      case 'oidc':
        return `t:${c.token}`;
      case 'missing': {
        const d = defaults();
        if (d === null) return null;
        return d.kind === 'user_key' ? `k:${d.userKey}` : `a:${d.appId}`;
      }
    }
  };
}

interface Limiter {
  readonly id: string;
  readonly key: KeyFn;
  /** Fixed window: count per windowMs; token bucket: ratePerMs and burst. */
  readonly fixed: boolean;
  readonly count: number;
  readonly windowMs: number;
  readonly ratePerMs: number;
  readonly burst: number;
}

function decideLocal(env: PolicyEnv, l: Limiter, key: string, now: number): number {
  const k = `${l.id}\n${key}`;
  return l.fixed
    ? env.limits.fixed(k, l.count, l.windowMs, now)
    : env.limits.bucket(k, l.ratePerMs, l.burst, now);
}

function compileRateLimit(
  c: PolicyConfig<'rate_limit'>,
  svc: ChainService,
  position: number,
  defaults: () => AppCredentials | null,
): RewriteStep {
  const keyOf = (k: { by: 'ip' | 'credential' | 'header'; header?: string | undefined }): KeyFn => {
    if (k.by === 'ip') {
      const sources = c.client_ip_sources;
      return (ctx) => clientIp(ctx.req, sources);
    }
    if (k.by === 'header') {
      const name = k.header!.toLowerCase();
      return (ctx) => ctx.header(name) ?? null;
    }
    return credentialKey(svc.auth, defaults);
  };
  const base = `${svc.id}:${position}`;
  const limiters: Limiter[] = [
    ...c.fixed_window_limiters.map((l, i) => ({
      id: `${base}:${l.name ?? `fw${i}`}`,
      key: keyOf(l.key),
      fixed: true,
      count: l.count,
      windowMs: l.window * 1000,
      ratePerMs: 0,
      burst: 0,
    })),
    ...c.token_bucket_limiters.map((l, i) => ({
      id: `${base}:${l.name ?? `tb${i}`}`,
      key: keyOf(l.key),
      fixed: false,
      count: 0,
      windowMs: 0,
      ratePerMs: l.rate / 1000,
      burst: l.burst,
    })),
  ];
  const shared = c.storage === 'redis';
  const { status_code: status, error_handling: handling } = c.limits_exceeded_error;
  const err = svc.errors.limits_exceeded;
  const over = (env: PolicyEnv, l: Limiter, wait: number): Answer | null => {
    if (handling === 'log') {
      env.logger?.warn(
        { service: svc.id, limiter: l.id, retry_after: wait },
        'edge rate limit exceeded (log only)',
      );
      return null;
    }
    return makeAnswer(status, err.contentType, err.body, { 'retry-after': wait });
  };

  const local = (ctx: PolicyContext, env: PolicyEnv): Answer | null => {
    const now = env.clock();
    for (const l of limiters) {
      const key = l.key(ctx);
      if (key === null) continue; // nothing to key on (no credential, no header): this limiter passes
      const wait = decideLocal(env, l, key, now);
      if (wait > 0) {
        const a = over(env, l, wait);
        if (a !== null) return a;
      }
    }
    return null;
  };

  const viaRedis = async (ctx: PolicyContext, env: PolicyEnv): Promise<Answer | null> => {
    const now = env.clock();
    for (const l of limiters) {
      const key = l.key(ctx);
      if (key === null) continue;
      const client = env.redis();
      let wait: number;
      if (client === null) wait = decideLocal(env, l, key, now);
      else {
        const rk = `edge-rl:${l.id}`;
        try {
          wait = l.fixed
            ? await redisFixed(client, rk, key, l.count, l.windowMs, now)
            : await redisBucket(client, rk, key, l.ratePerMs, l.burst, now);
        } catch (e) {
          env.redisFailed();
          env.warn(
            'rate_limit:redis',
            { err: e, service: svc.id },
            'edge rate limit: Redis unavailable, counting in this process',
            60_000,
          );
          wait = decideLocal(env, l, key, now);
        }
      }
      if (wait > 0) {
        const a = over(env, l, wait);
        if (a !== null) return a;
      }
    }
    return null;
  };

  if (!shared) return local;
  return (ctx, env) => {
    if (!env.hasRedis) {
      env.warn(
        `rate_limit:no-redis:${svc.id}`,
        { service: svc.id },
        'rate_limit storage is redis but REDIS_URL is not set: limits are counted per gateway process',
      );
      return local(ctx, env);
    }
    return viaRedis(ctx, env);
  };
}

// ---- routing ---------------------------------------------------------------------------------------

function compileRouting(c: PolicyConfig<'routing'>): RewriteStep {
  const rules = c.rules.map((r) => {
    const target = parseUpstream(r.url);
    const upstream: UpstreamTarget =
      r.host_header === undefined ? Object.freeze(target) : Object.freeze({ ...target, host: r.host_header });
    return { upstream, when: compileCondition(r.condition) };
  });
  return (ctx) => {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (r.when(ctx)) {
        ctx.upstream = r.upstream;
        break;
      }
    }
    return null;
  };
}

// ---- maintenance_mode ------------------------------------------------------------------------------

function compileMaintenance(c: PolicyConfig<'maintenance_mode'>): RewriteStep {
  const a = makeAnswer(c.status, c.message_content_type, c.message);
  if (c.condition === undefined) return () => a;
  const when = compileCondition(c.condition);
  return (ctx) => (when(ctx) ? a : null);
}

// ---- logging ---------------------------------------------------------------------------------------

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function compileLogging(
  c: PolicyConfig<'logging'>,
  svc: ChainService,
): { log: AccessLog; response: ResponseStep | null } {
  const f = new Set(c.fields);
  // The service's own credential headers are never logged, whatever the list says.
  const secret = new Set(CREDENTIAL_HEADERS);
  if (svc.auth.location === 'header' || svc.auth.mode === 'oidc') {
    for (const n of [svc.auth.param, svc.auth.key_param]) if (n !== undefined) secret.add(n.toLowerCase());
  }
  const reqHeaders = c.request_headers.map((h) => h.toLowerCase()).filter((h) => !secret.has(h));
  const resHeaders = c.response_headers.map((h) => h.toLowerCase()).filter((h) => !secret.has(h));
  const when = c.condition === undefined ? null : compileCondition(c.condition);
  const RESPONSE = Symbol('response headers');
  type Logged = PolicyContext & { [RESPONSE]?: Record<string, string | string[]> };
  const pick = (from: IncomingHttpHeaders | ProxyHeaders, names: readonly string[]) => {
    const out: Record<string, string | string[]> = {};
    for (const n of names) {
      const v = from[n];
      if (v !== undefined) out[n] = v;
    }
    return out;
  };
  const log: AccessLog = {
    write(ctx, env) {
      const logger = env.logger;
      if (logger === null || (when !== null && !when(ctx))) return;
      const res = ctx.res;
      const o = ctx.outcome;
      const line: Record<string, unknown> = {};
      if (f.has('service')) line.service = svc.id;
      if (f.has('method')) line.method = ctx.method;
      if (f.has('path')) line.path = ctx.originalPath;
      if (f.has('status')) line.status = res?.headersSent ? res.statusCode : 499;
      if (f.has('latency_ms')) line.latency_ms = round3(performance.now() - ctx.started);
      if (f.has('upstream_ms') && o !== null) line.upstream_ms = round3(o.upstreamMs);
      if (f.has('bytes_in') && o !== null) line.bytes_in = o.bytesIn;
      if (f.has('bytes_out') && o !== null) line.bytes_out = o.bytesOut;
      if (f.has('client_ip')) line.client_ip = clientIp(ctx.req, ['last_caller']);
      if (f.has('host') && ctx.req.headers.host !== undefined) line.host = ctx.req.headers.host;
      if (f.has('user_agent') && ctx.req.headers['user-agent'] !== undefined)
        line.user_agent = ctx.req.headers['user-agent'];
      if (f.has('application') && ctx.application !== null) line.application = ctx.application;
      if (f.has('upstream') && o !== null) line.upstream = ctx.upstream.origin;
      if (f.has('error') && o?.error !== undefined) line.error = o.error;
      if (reqHeaders.length > 0) line.request_headers = pick(ctx.req.headers, reqHeaders);
      if (resHeaders.length > 0) line.response_headers = (ctx as Logged)[RESPONSE] ?? {};
      logger.info(line, 'access');
    },
  };
  const response: ResponseStep | null =
    resHeaders.length === 0
      ? null
      : (ctx, status, headers) => {
          (ctx as Logged)[RESPONSE] = pick(headers, resHeaders) as Record<string, string | string[]>;
          return status;
        };
  return { log, response };
}

// ---- the chain -------------------------------------------------------------------------------------

function retryStatuses(cases: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const c of cases) if (c.startsWith('http_')) out.add(Number(c.slice(5)));
  return out;
}

/**
 * Compiles a service's chain; null when no policy is enabled (the service takes the plain fast path).
 * Throws when a stored configuration does not validate (the config version is then not installed).
 */
export function compileChain(entries: readonly PolicyEntry[], svc: ChainService): PolicyChain | null {
  const enabled: { name: PolicyName; position: number; configuration: unknown }[] = [];
  entries.forEach((p, position) => {
    if (!p.enabled) return;
    if (!POLICY_SET.has(p.name)) throw new Error(`service ${svc.id}: unknown policy "${p.name}"`);
    enabled.push({ name: p.name as PolicyName, position, configuration: p.configuration });
  });
  if (enabled.length === 0) return null;

  const names: PolicyName[] = [];
  const rewrite: RewriteStep[] = [];
  const response: ResponseStep[] = [];
  let log: AccessLog | null = null;
  let defaultCredentials: AppCredentials | null = null;
  const defaults = () => defaultCredentials;
  let connectMs: number | undefined;
  let readMs: number | undefined;
  let retries = 0;
  let retryOn: ForwardSettings['retryOn'] = { error: false, timeout: false, statuses: new Set() };
  let requestLimit = 0;
  let responseLimit = 0;
  let forwards = false;
  const smallest = (a: number, b: number) => (a === 0 ? b : b === 0 ? a : Math.min(a, b));
  let logResponse: ResponseStep | null = null;

  for (const e of enabled) {
    names.push(e.name);
    try {
      switch (e.name) {
        case 'cors': {
          const c = compileCors(parsePolicyConfig('cors', e.configuration));
          rewrite.push(c.rewrite);
          response.push(c.response);
          break;
        }
        case 'headers': {
          const c = parsePolicyConfig('headers', e.configuration);
          const req = lowerCommands(c.request);
          const res = lowerCommands(c.response);
          if (req.length > 0)
            rewrite.push((ctx) => {
              editHeaders(ctx.req.headers as Editable, req, true);
              return null;
            });
          if (res.length > 0)
            response.push((_ctx, status, headers) => {
              editHeaders(headers, res, false);
              return status;
            });
          break;
        }
        case 'url_rewriting':
          rewrite.push(compileUrlRewriting(parsePolicyConfig('url_rewriting', e.configuration)));
          break;
        case 'ip_check':
          rewrite.push(compileIpCheck(parsePolicyConfig('ip_check', e.configuration)));
          break;
        case 'rate_limit':
          rewrite.push(
            compileRateLimit(parsePolicyConfig('rate_limit', e.configuration), svc, e.position, defaults),
          );
          break;
        case 'payload_limits': {
          const c = parsePolicyConfig('payload_limits', e.configuration);
          if (c.request > 0) rewrite.push(compileRequestLimit(c.request));
          requestLimit = smallest(requestLimit, c.request);
          responseLimit = smallest(responseLimit, c.response);
          forwards ||= c.request > 0 || c.response > 0;
          break;
        }
        case 'upstream_connection': {
          const c = parsePolicyConfig('upstream_connection', e.configuration);
          if (c.connect_timeout !== undefined) connectMs = Math.ceil(c.connect_timeout * 1000);
          if (c.read_timeout !== undefined) readMs = Math.ceil(c.read_timeout * 1000);
          forwards ||= c.connect_timeout !== undefined || c.read_timeout !== undefined;
          break;
        }
        case 'retry': {
          const c = parsePolicyConfig('retry', e.configuration);
          retries = c.retries;
          retryOn = {
            error: c.retry_on.includes('error'),
            timeout: c.retry_on.includes('timeout'),
            statuses: retryStatuses(c.retry_on),
          };
          forwards = true;
          break;
        }
        case 'maintenance_mode':
          rewrite.push(compileMaintenance(parsePolicyConfig('maintenance_mode', e.configuration)));
          break;
        case 'default_credentials': {
          const c = parsePolicyConfig('default_credentials', e.configuration);
          // The first one of the chain counts (a request presents one set of credentials).
          defaultCredentials ??=
            c.auth_type === 'user_key'
              ? Object.freeze({ kind: 'user_key', userKey: c.user_key! })
              : Object.freeze(
                  c.app_key === undefined
                    ? { kind: 'app_id', appId: c.app_id! }
                    : { kind: 'app_id', appId: c.app_id!, appKey: c.app_key },
                );
          break;
        }
        case 'routing':
          rewrite.push(compileRouting(parsePolicyConfig('routing', e.configuration)));
          break;
        case 'statuscode_overwrite': {
          const c = parsePolicyConfig('statuscode_overwrite', e.configuration);
          const map = new Map(c.http_statuses.map((s) => [s.upstream, s.gateway]));
          response.push((_ctx, status) => map.get(status) ?? status);
          break;
        }
        case 'logging': {
          const l = compileLogging(parsePolicyConfig('logging', e.configuration), svc);
          if (log === null) {
            log = l.log;
            logResponse = l.response;
          }
          break;
        }
      }
    } catch (err) {
      throw new Error(`service ${svc.id}: policies[${e.position}] (${e.name}): ${(err as Error).message}`);
    }
  }
  // The log's capture of response headers goes last: it sees the head as sent.
  if (logResponse !== null) response.push(logResponse);
  const forward: ForwardSettings | null = forwards
    ? Object.freeze({
        ...(connectMs !== undefined ? { connectMs } : {}),
        ...(readMs !== undefined ? { readMs } : {}),
        retries,
        retryOn,
        requestLimit,
        responseLimit,
      })
    : null;
  return Object.freeze({
    names,
    rewrite,
    defaultCredentials,
    forward,
    response,
    log,
  });
}

/** Runs the rewrite steps from `from` on; resumes after a step's I/O without closures on the sync path. */
export function runRewrite(
  ctx: PolicyContext,
  env: PolicyEnv,
  steps: readonly RewriteStep[],
  from = 0,
): Answer | null | Promise<Answer | null> {
  for (let i = from; i < steps.length; i++) {
    const r = steps[i]!(ctx, env);
    if (r === null) continue;
    if (r instanceof Promise) return r.then((a) => (a !== null ? a : runRewrite(ctx, env, steps, i + 1)));
    return r;
  }
  return null;
}

/** The reason phrase of a status (for raw answers on the upgrade path). */
export function reason(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}
