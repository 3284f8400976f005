/**
 * Remote backend mode: a service authorizes against any 3scale-compatible Service Management API over HTTP
 * (3scale SaaS, a self-managed apisonator, another Tollgate's backend role), as APIcast does.
 *
 * - `authrep`: one `GET /transactions/authrep.xml` per call; the remote decides and counts in one step.
 * - `cached`: APIcast's caching mode. The answer of `GET /transactions/authorize.xml` is kept per
 *   (service, credentials, referrer, usage) for `flush_ms` (default 500 ms) and calls are admitted locally
 *   while it says "authorized" — never more of them than the remote's `3scale-limit-remaining` said still
 *   fit. Admitted usage is summed per application and sent with `POST /transactions.xml` every `flush_ms`
 *   (and on close). Denials are cached too; concurrent identical misses share one request.
 *
 * Every call asks for `3scale-options: rejection_reason_header=1&limit_headers=1&no_body=1`: the verdict
 * comes from the status and headers alone. 200 → allow; 409 `limits_exceeded` → limits_exceeded (Retry-After
 * from `3scale-limit-reset`); 403/404 and other 409 reasons → auth_failed. 5xx, 400/422 (the remote refusing
 * our own parameters), timeouts and connection errors reject: a store failure, which the authorizer set turns
 * into the service's `on_store_failure` answer.
 */
import { type Dispatcher, Pool } from 'undici';
import type { RemoteBackend } from '../../store/sql/repo/records.js';
import type { AuthCall, Authorizer, RateLimitState, Verdict } from './types.js';

/** Defaults, documented in docs/gateway.md ("Remote 3scale backend"). */
export const REMOTE_DEFAULTS = Object.freeze({ flushMs: 500, timeoutMs: 2_000 });

const OPTIONS_HEADER = 'rejection_reason_header=1&limit_headers=1&no_body=1';
const GET_HEADERS = Object.freeze({ '3scale-options': OPTIONS_HEADER });
const POST_HEADERS = Object.freeze({
  '3scale-options': OPTIONS_HEADER,
  'content-type': 'application/x-www-form-urlencoded',
});
/** Transactions per `POST /transactions.xml`. */
const REPORT_CHUNK = 500;
/** Cached answers kept per authorizer (oldest evicted first). */
const MAX_CACHED = 20_000;

/** A failure to get an answer from the remote (never carries the request URL: it holds credentials). */
export class RemoteBackendError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RemoteBackendError';
    this.status = status;
  }
}

export interface RemoteAuthorizerOptions {
  /** Clock in ms since the epoch (tests). */
  readonly now?: () => number;
  /** A batched report the remote refused or that could not be sent (usage kept and retried unless refused). */
  readonly onReportError?: (err: unknown, backend: RemoteBackend) => void;
  /** Connections per remote origin (default 128). */
  readonly connectionsPerOrigin?: number;
}

/** The remote authorizers of one gateway: one per backend settings, sharing a keep-alive pool per origin. */
export interface RemoteAuthorizers {
  /** The authorizer for a service's `backend` settings (cached per settings object and by value). */
  for(backend: RemoteBackend): Authorizer;
  /** Flushes pending reports and closes the pools. */
  close(): Promise<void>;
}

type IncomingHttpHeaders = Dispatcher.ResponseData['headers'];

const AUTH_FAILED: Verdict = Object.freeze({ ok: false, code: 'auth_failed' });
const ALLOW: Verdict = Object.freeze({ ok: true, event: null });

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function intHeader(h: IncomingHttpHeaders, name: string): number | undefined {
  const v = header(h, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/** The rate state of the `3scale-limit-*` headers (absent when the remote says no limit applies). */
function rateOf(h: IncomingHttpHeaders): RateLimitState | undefined {
  const remaining = intHeader(h, '3scale-limit-remaining');
  const max = intHeader(h, '3scale-limit-max-value');
  if (remaining === undefined || max === undefined || remaining < 0) return undefined;
  return { limit: max, remaining, reset: Math.max(intHeader(h, '3scale-limit-reset') ?? 0, 0) };
}

/** Maps a Service Management API answer to a verdict; throws for answers that are not about the call. */
export function verdictOfRemote(status: number, h: IncomingHttpHeaders): Verdict {
  if (status === 200) {
    const rate = rateOf(h);
    return rate === undefined ? ALLOW : { ok: true, event: null, rate };
  }
  if (status === 409) {
    if (header(h, '3scale-rejection-reason') !== 'limits_exceeded') return AUTH_FAILED;
    const reset = intHeader(h, '3scale-limit-reset');
    const rate = rateOf(h);
    return {
      ok: false,
      code: 'limits_exceeded',
      ...(reset !== undefined && reset >= 0 ? { retryAfter: reset } : {}),
      ...(rate === undefined ? {} : { rate }),
    };
  }
  // Unknown user_key / application (404), bad keys, services or provider credentials (403).
  if (status === 403 || status === 404) return AUTH_FAILED;
  throw new RemoteBackendError(`remote backend answered HTTP ${status}`, status);
}

const enc = encodeURIComponent;

/** `&user_key=…` or `&app_id=…[&app_key=…]`, `&referrer=…` and `&usage[m]=d…` of a call. */
function callParams(call: AuthCall): string {
  const c = call.creds;
  let q = c.kind === 'user_key' ? `&user_key=${enc(c.userKey)}` : `&app_id=${enc(c.appId)}`;
  if (c.kind === 'app_id' && c.appKey !== undefined) q += `&app_key=${enc(c.appKey)}`;
  if (call.referrer !== undefined) q += `&referrer=${enc(call.referrer)}`;
  for (const name in call.usage) {
    const v = call.usage[name];
    if (typeof v === 'string') q += `&usage%5B${enc(name)}%5D=${enc(v)}`;
  }
  return q;
}

/** Usage of one application waiting to be reported. */
interface Pending {
  readonly serviceId: string;
  /** `user_key=…` or `app_id=…`, already encoded (without the `transactions[i]` prefix). */
  readonly who: readonly [string, string];
  readonly usage: Map<string, number>;
}

/** A cached authorize answer. */
interface Entry {
  readonly verdict: Verdict;
  readonly fetchedAt: number;
  readonly expiresAt: number;
  /** Calls admitted on this answer. */
  spent: number;
}

/** One backend's settings as the wire needs them. */
class RemoteAuthorizer implements Authorizer {
  private readonly basePath: string;
  private readonly flushMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly prefixes = new Map<string, string>();
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private pending = new Map<string, Pending>();
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly settings: RemoteBackend,
    private readonly pool: Pool,
    private readonly opts: RemoteAuthorizerOptions,
  ) {
    const u = new URL(settings.url);
    this.basePath = u.pathname.replace(/\/+$/, '');
    this.flushMs = settings.flush_ms ?? REMOTE_DEFAULTS.flushMs;
    this.timeoutMs = settings.timeout_ms ?? REMOTE_DEFAULTS.timeoutMs;
    this.now = opts.now ?? Date.now;
    if (settings.mode === 'cached') {
      this.timer = setInterval(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  decide(call: AuthCall): Verdict | Promise<Verdict> {
    return this.settings.mode === 'cached' ? this.decideCached(call) : this.authrep(call);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.flush();
  }

  /** `provider_key=…&service_id=…` or `service_token=…&service_id=…`, once per service id. */
  private prefix(call: AuthCall): string {
    const serviceId = this.serviceIdOf(call);
    let p = this.prefixes.get(serviceId);
    if (p === undefined) {
      const s = this.settings;
      p =
        s.provider_key !== undefined
          ? `provider_key=${enc(s.provider_key)}&service_id=${enc(serviceId)}`
          : `service_token=${enc(s.service_token ?? '')}&service_id=${enc(serviceId)}`;
      this.prefixes.set(serviceId, p);
    }
    return p;
  }

  private serviceIdOf(call: AuthCall): string {
    return this.settings.service_id ?? call.svc.id;
  }

  /** OIDC services use the oauth_* endpoints (3scale's backend_version "oauth"), as APIcast does. */
  private endpoint(call: AuthCall, op: 'authrep' | 'authorize'): string {
    return call.svc.auth.mode === 'oidc'
      ? `${this.basePath}/transactions/oauth_${op}.xml?`
      : `${this.basePath}/transactions/${op}.xml?`;
  }

  private async get(path: string): Promise<Verdict> {
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await this.pool.request({
        method: 'GET',
        path,
        headers: GET_HEADERS,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw new RemoteBackendError(
        `remote backend unreachable: ${(err as Error).message ?? String(err)}`,
        undefined,
        { cause: err },
      );
    }
    await res.body.dump();
    return verdictOfRemote(res.statusCode, res.headers);
  }

  private authrep(call: AuthCall): Promise<Verdict> {
    return this.get(this.endpoint(call, 'authrep') + this.prefix(call) + callParams(call));
  }

  // --- cached mode ---------------------------------------------------------------------------------

  private decideCached(call: AuthCall): Verdict | Promise<Verdict> {
    const params = callParams(call);
    const key = `${this.serviceIdOf(call)}\n${call.svc.auth.mode}\n${params}`;
    const hit = this.cache.get(key);
    const now = this.now();
    if (hit !== undefined && hit.expiresAt > now) return this.admit(hit, call, now);
    let wait = this.inflight.get(key);
    if (wait === undefined) {
      const path = this.endpoint(call, 'authorize') + this.prefix(call) + params;
      wait = this.get(path).then(
        (verdict) => {
          this.inflight.delete(key);
          const at = this.now();
          const entry: Entry = { verdict, fetchedAt: at, expiresAt: at + this.flushMs, spent: 0 };
          this.cache.delete(key);
          this.cache.set(key, entry);
          if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
          return entry;
        },
        (err: unknown) => {
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, wait);
    }
    return wait.then((entry) => this.admit(entry, call, this.now()));
  }

  /** Serves a call from a cached answer: admits while what the remote said still fits, counts it. */
  private admit(entry: Entry, call: AuthCall, now: number): Verdict {
    const v = entry.verdict;
    const elapsed = Math.floor((now - entry.fetchedAt) / 1000);
    if (!v.ok) {
      if (elapsed === 0 || (v.retryAfter === undefined && v.rate === undefined)) return v;
      return {
        ok: false,
        code: v.code,
        ...(v.retryAfter === undefined ? {} : { retryAfter: Math.max(v.retryAfter - elapsed, 0) }),
        ...(v.rate === undefined ? {} : { rate: { ...v.rate, reset: Math.max(v.rate.reset - elapsed, 0) } }),
      };
    }
    const rate = v.rate;
    if (rate !== undefined && entry.spent >= rate.remaining) {
      // Every call like this one that the remote said would fit has been admitted here.
      const reset = Math.max(rate.reset - elapsed, 0);
      return {
        ok: false,
        code: 'limits_exceeded',
        retryAfter: reset,
        rate: { limit: rate.limit, remaining: 0, reset },
      };
    }
    entry.spent++;
    this.count(call);
    if (rate === undefined) return ALLOW;
    return {
      ok: true,
      event: null,
      rate: {
        limit: rate.limit,
        remaining: rate.remaining - entry.spent,
        reset: Math.max(rate.reset - elapsed, 0),
      },
    };
  }

  /** Adds an admitted call's usage to its application's pending report. */
  private count(call: AuthCall): void {
    const serviceId = this.serviceIdOf(call);
    const c = call.creds;
    const who: readonly [string, string] =
      c.kind === 'user_key' ? ['user_key', c.userKey] : ['app_id', c.appId];
    const key = `${serviceId}\n${who[0]}\n${who[1]}`;
    let p = this.pending.get(key);
    if (p === undefined) {
      p = { serviceId, who, usage: new Map() };
      this.pending.set(key, p);
    }
    for (const name in call.usage) {
      const v = call.usage[name];
      if (typeof v === 'string') p.usage.set(name, (p.usage.get(name) ?? 0) + Number(v));
    }
  }

  /** Sends what is pending (one flush at a time) and drops expired cached answers. */
  flush(): Promise<void> {
    if (this.flushing !== null) return this.flushing;
    const now = this.now();
    for (const [k, e] of this.cache) if (e.expiresAt <= now) this.cache.delete(k);
    if (this.pending.size === 0) return Promise.resolve();
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.send(batch).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async send(batch: Map<string, Pending>): Promise<void> {
    const byService = new Map<string, Pending[]>();
    for (const p of batch.values()) {
      if (p.usage.size === 0) continue;
      const list = byService.get(p.serviceId);
      if (list === undefined) byService.set(p.serviceId, [p]);
      else list.push(p);
    }
    for (const [serviceId, list] of byService) {
      for (let i = 0; i < list.length; i += REPORT_CHUNK) {
        const chunk = list.slice(i, i + REPORT_CHUNK);
        try {
          await this.post(serviceId, chunk);
        } catch (err) {
          // Not sent: keep the usage for the next flush. Refused by the remote: nothing to retry.
          if (!(err instanceof RemoteBackendError && err.status !== undefined && err.status < 500)) {
            for (const p of chunk) this.requeue(p);
          }
          this.opts.onReportError?.(err, this.settings);
        }
      }
    }
  }

  private requeue(p: Pending): void {
    const key = `${p.serviceId}\n${p.who[0]}\n${p.who[1]}`;
    const now = this.pending.get(key);
    if (now === undefined) {
      this.pending.set(key, p);
      return;
    }
    for (const [m, n] of p.usage) now.usage.set(m, (now.usage.get(m) ?? 0) + n);
  }

  private async post(serviceId: string, list: readonly Pending[]): Promise<void> {
    const s = this.settings;
    let body =
      s.provider_key !== undefined
        ? `provider_key=${enc(s.provider_key)}&service_id=${enc(serviceId)}`
        : `service_token=${enc(s.service_token ?? '')}&service_id=${enc(serviceId)}`;
    list.forEach((p, i) => {
      body += `&transactions%5B${i}%5D%5B${p.who[0]}%5D=${enc(p.who[1])}`;
      for (const [m, n] of p.usage) body += `&transactions%5B${i}%5D%5Busage%5D%5B${enc(m)}%5D=${n}`;
    });
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await this.pool.request({
        method: 'POST',
        path: `${this.basePath}/transactions.xml`,
        headers: POST_HEADERS,
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw new RemoteBackendError(
        `remote backend unreachable: ${(err as Error).message ?? String(err)}`,
        undefined,
        { cause: err },
      );
    }
    await res.body.dump();
    if (res.statusCode !== 202 && res.statusCode !== 200)
      throw new RemoteBackendError(`remote backend refused a report: HTTP ${res.statusCode}`, res.statusCode);
  }
}

/** Builds the remote authorizers of one gateway. */
export function createRemoteAuthorizers(opts: RemoteAuthorizerOptions = {}): RemoteAuthorizers {
  const pools = new Map<string, Pool>();
  const byValue = new Map<string, RemoteAuthorizer>();
  const bySettings = new WeakMap<RemoteBackend, RemoteAuthorizer>();

  const poolFor = (b: RemoteBackend): Pool => {
    const origin = new URL(b.url).origin;
    const timeout = b.timeout_ms ?? REMOTE_DEFAULTS.timeoutMs;
    const key = `${origin}\n${timeout}`;
    let pool = pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: opts.connectionsPerOrigin ?? 128,
        connectTimeout: timeout,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      pools.set(key, pool);
    }
    return pool;
  };

  return {
    for(backend) {
      let a = bySettings.get(backend);
      if (a !== undefined) return a;
      // Config versions compile new settings objects; equal settings keep their authorizer (cache, reports).
      const key = JSON.stringify([
        backend.url,
        backend.mode,
        backend.service_token ?? null,
        backend.provider_key ?? null,
        backend.service_id ?? null,
        backend.flush_ms ?? null,
        backend.timeout_ms ?? null,
      ]);
      a = byValue.get(key);
      if (a === undefined) {
        a = new RemoteAuthorizer(backend, poolFor(backend), opts);
        byValue.set(key, a);
      }
      bySettings.set(backend, a);
      return a;
    },
    async close() {
      await Promise.all([...byValue.values()].map((a) => a.close()));
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}
