/**
 * The forwarding stage: a node:http exchange streamed to its upstream over keep-alive connections —
 * bodiless requests to `http:` upstreams through the gateway's own HTTP/1.1 lane (h1-lane.ts), the rest
 * (request bodies, TLS upstreams, a capped pool) through undici pools. Both speak one handler interface.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Duplex, Transform, type TransformCallback } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import { endCoalesced } from '../server/coalesce.js';
import { H1Lane, type LaneHandler, type LaneRequest } from './h1-lane.js';
import type { Route, UpstreamTarget } from './router.js';

/** The gateway's own answers, one catalogue: stable code, status and message. */
export const GATEWAY_ERRORS = {
  no_route: { status: 404, message: 'no service is configured for this host and path' },
  bad_request: { status: 400, message: 'the request target must be an absolute path' },
  upstream_unreachable: { status: 502, message: 'the upstream could not be reached' },
  upstream_invalid: { status: 502, message: 'the upstream answered something that is not valid HTTP/1.1' },
  upstream_timeout: { status: 504, message: 'the upstream did not answer in time' },
  payload_too_large: { status: 413, message: 'the body is larger than the service allows' },
} as const;
export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

// Bodies serialised once: error answers allocate nothing per request.
const ERROR_BODIES = Object.fromEntries(
  Object.entries(GATEWAY_ERRORS).map(([code, e]) => [code, Buffer.from(JSON.stringify({ code, ...e }))]),
) as Record<GatewayErrorCode, Buffer>;

/** Writes a catalogued error as JSON; the caller has checked that no response has started. */
export function sendGatewayError(res: ServerResponse, code: GatewayErrorCode): void {
  const body = ERROR_BODIES[code];
  res.writeHead(GATEWAY_ERRORS[code].status, {
    'content-type': 'application/json',
    'content-length': body.length,
  });
  res.end(body);
}

/** Upstream timeouts, kept distinct so the gateway can tell 502 (never connected) from 504 (too slow). */
export interface ProxyTimeouts {
  /** TCP (+TLS) connect; exceeded → 502 `upstream_unreachable`. */
  readonly connectMs: number;
  /** From request sent to response headers; exceeded → 504 `upstream_timeout`. */
  readonly headersMs: number;
  /** Longest silence between two response body chunks; exceeded → 504, or a cut socket once started. */
  readonly bodyMs: number;
}

export interface ProxyOptions {
  readonly timeouts?: Partial<ProxyTimeouts>;
  /** Idle keep-alive sockets are closed after this long (undici default 4 s). */
  readonly keepAliveMs?: number;
  /** Connections per upstream origin; null = unbounded (undici's default). */
  readonly connectionsPerOrigin?: number | null;
  /** TLS options for https upstreams (both the pool and the WebSocket path). */
  readonly tls?: { readonly rejectUnauthorized?: boolean; readonly ca?: string | Buffer };
  /**
   * Which client carries bodiless requests to `http:` upstreams: `lane` (default; the gateway's own
   * HTTP/1.1 client) or `undici` (every request through undici, as requests with bodies always are).
   */
  readonly upstreamClient?: 'lane' | 'undici';
}

/** Header map with lower-case names; a hook deletes a header by removing it or setting it undefined. */
export type ProxyHeaders = Record<string, string | string[] | undefined>;

/** What one forwarded exchange cost, for usage recording. */
export interface ForwardOutcome {
  /** Status sent to the client; 499 when the client left before any was sent. */
  readonly status: number;
  /** From dispatch to the last response byte (or the failure). */
  readonly upstreamMs: number;
  /** Request body bytes sent upstream. */
  readonly bytesIn: number;
  /** Response body bytes relayed to the client. */
  readonly bytesOut: number;
  /** Set when the exchange did not complete normally. */
  readonly error?:
    | 'upstream_unreachable'
    | 'upstream_invalid'
    | 'upstream_timeout'
    | 'upstream_aborted'
    | 'client_aborted'
    | 'payload_too_large';
  /** Extra attempts made (retry policy). */
  readonly retries?: number;
}

/** Stage hooks for later policies. Meant to be built once per service, not per request. */
export interface ForwardHooks {
  onRequestHeaders?(headers: ProxyHeaders, req: IncomingMessage): void;
  /** May edit the headers; a number returned replaces the status sent to the client. */
  onResponseHeaders?(status: number, headers: ProxyHeaders, req: IncomingMessage): number | undefined;
  onDone?(outcome: ForwardOutcome, req: IncomingMessage): void;
}

/** When a failed attempt is tried again (retry policy): idempotent requests without a body only. */
export interface RetryCases {
  /** The connection failed (refused, reset, closed before an answer). */
  readonly error: boolean;
  /** Connect timeout, or no response head in time. */
  readonly timeout: boolean;
  /** Upstream statuses that are retried (their bodies are drained, so the connection is kept). */
  readonly statuses: ReadonlySet<number>;
}

/** A service's forwarding settings from its policy chain (built once per config version). */
export interface ForwardSettings {
  /** TCP (+TLS) connect timeout instead of the proxy's (undici pools are per origin and timeout). */
  readonly connectMs?: number;
  /** Response head and between-chunk timeout instead of the proxy's. */
  readonly readMs?: number;
  /** Extra attempts after the first; 0: none. */
  readonly retries: number;
  readonly retryOn: RetryCases;
  /** Largest request body streamed upstream (bytes); 0: no limit. Exceeded: 413 (or a cut connection). */
  readonly requestLimit: number;
  /** Largest response body relayed (bytes); 0: no limit. Content-Length over it: 413; streamed: cut. */
  readonly responseLimit: number;
}

/** Per-request forwarding: where to (routing may pick another upstream) and the service's settings. */
export interface ForwardOptions {
  readonly upstream: UpstreamTarget;
  readonly settings: ForwardSettings | null;
}

export interface UpstreamProxy {
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    hooks?: ForwardHooks,
    opts?: ForwardOptions,
  ): void;
  /** WebSocket / `Upgrade` passthrough: forwards the upgrade request, then pipes raw bytes both ways. */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    route: Route,
    hooks?: ForwardHooks,
    opts?: ForwardOptions,
  ): void;
  /** Closes every pool (in-flight requests finish first). */
  close(): Promise<void>;
}

/** Field names a `Connection` value lists (RFC 9110 §7.6.1), or null for the usual bare keep-alive/close. */
export function connectionTokens(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return null;
  const v = typeof value === 'string' ? value : value.join(',');
  if (v.length <= 10 && !v.includes(',')) {
    const l = v.toLowerCase();
    if (l === 'keep-alive' || l === 'close') return null;
  }
  const out: string[] = [];
  for (const t of v.split(',')) {
    const name = t.trim().toLowerCase();
    if (name.length > 0) out.push(name);
  }
  return out;
}

/** Request fields for the upstream: hop-by-hop stripped, Host replaced, X-Forwarded-* set. */
function requestHeaders(req: IncomingMessage, up: UpstreamTarget, keepUpgrade: boolean): ProxyHeaders {
  const src = req.headers;
  const named = connectionTokens(src.connection);
  const out: ProxyHeaders = {};
  for (const name of Object.keys(src)) {
    if (droppedRequestField(name) || named?.includes(name)) continue;
    out[name] = src[name];
  }
  if (keepUpgrade) {
    // The one hop-by-hop pair an upgrade must carry to the next hop (RFC 9110 §7.8).
    out.connection = 'upgrade';
    out.upgrade = src.upgrade;
  }
  const prior = src['x-forwarded-for'];
  const addr = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = prior ? `${prior}, ${addr}` : addr;
  out['x-forwarded-proto'] = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  if (src.host !== undefined) out['x-forwarded-host'] = src.host;
  out.host = up.host;
  return out;
}

/**
 * Whether a request field (any case) is never copied upstream: the hop-by-hop ones; `host` (the upstream's
 * own is sent, as APIcast does, so virtual hosts upstream work; the client's goes in X-Forwarded-Host); the
 * X-Forwarded-* the gateway sets itself; and `expect` (node already answered 100-continue; undici refuses
 * the field). Compares by length first: no lower-cased copy per field.
 */
function droppedRequestField(name: string): boolean {
  if (hopByHop(name)) return true;
  switch (name.length) {
    case 4:
      return name.toLowerCase() === 'host';
    case 6:
      return name.toLowerCase() === 'expect';
    case 15:
      return name.toLowerCase() === 'x-forwarded-for';
    case 16:
      return name.toLowerCase() === 'x-forwarded-host';
    case 17:
      return name.toLowerCase() === 'x-forwarded-proto';
    default:
      return false;
  }
}

/**
 * The same fields as `requestHeaders`, as the flat `[name, value, …]` list undici takes without
 * re-processing an object: built from the raw list, so node's lazily parsed header object is never made.
 * Null when the request's Connection names other fields (rare: the object path handles it).
 */
function flatRequestHeaders(req: IncomingMessage, up: UpstreamTarget): string[] | null {
  const raw = req.rawHeaders;
  const out: string[] = ['host', up.host];
  let forwardedFor: string | undefined;
  let host: string | undefined;
  flatHasBody = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!droppedRequestField(name)) {
      // A body is announced by Content-Length (not 0) or Transfer-Encoding (RFC 9112 §6.3).
      if (name.length === 14 && raw[i + 1] !== '0' && name.toLowerCase() === 'content-length')
        flatHasBody = true;
      out.push(name, raw[i + 1]!);
      continue;
    }
    const l = name.toLowerCase();
    if (l === 'transfer-encoding') flatHasBody = true;
    else if (l === 'host') host = raw[i + 1];
    else if (l === 'x-forwarded-for')
      forwardedFor = forwardedFor === undefined ? raw[i + 1] : `${forwardedFor}, ${raw[i + 1]}`;
    else if (l === 'connection' && connectionTokens(raw[i + 1]) !== null) return null;
  }
  const addr = req.socket.remoteAddress ?? '';
  out.push(
    'x-forwarded-for',
    forwardedFor === undefined ? addr : `${forwardedFor}, ${addr}`,
    'x-forwarded-proto',
    (req.socket as TLSSocket).encrypted ? 'https' : 'http',
  );
  if (host !== undefined) out.push('x-forwarded-host', host);
  return out;
}

/**
 * Whether a field (any case) is hop-by-hop, never forwarded in either direction (RFC 9110 §7.6.1;
 * Keep-Alive and Proxy-Connection are its legacy examples; Proxy-Authenticate/-Authorization per §11.7).
 * By length first: no lower-cased copy per field.
 */
function hopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return name.toLowerCase() === 'te';
    case 7: {
      const l = name.toLowerCase();
      return l === 'trailer' || l === 'upgrade';
    }
    case 10: {
      const l = name.toLowerCase();
      return l === 'connection' || l === 'keep-alive';
    }
    case 16:
      return name.toLowerCase() === 'proxy-connection';
    case 17:
      return name.toLowerCase() === 'transfer-encoding';
    case 18:
      return name.toLowerCase() === 'proxy-authenticate';
    case 19:
      return name.toLowerCase() === 'proxy-authorization';
    default:
      return false;
  }
}

/** Set by `flatRequestHeaders`: whether the request it just read carries a body. */
let flatHasBody = false;

/** A raw response field list: Buffers from undici, strings from the lane. */
type RawFields = ReadonlyArray<Buffer | string>;

function latin1(x: Buffer | string): string {
  return typeof x === 'string' ? x : x.toString('latin1');
}

/** Reused by every answer on the fast path: writeHead serialises it before returning. */
const flatResponse: string[] = [];

/**
 * Writes the response head from undici's raw list as a flat list (no header object), hop-by-hop fields
 * stripped; false when a Connection field names other fields (the object path strips those).
 */
function writeFlatHead(res: ServerResponse, status: number, raw: RawFields): boolean {
  const out = flatResponse;
  out.length = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = latin1(raw[i]!);
    if (hopByHop(name)) {
      if (
        name.length === 10 &&
        name.toLowerCase() === 'connection' &&
        connectionTokens(latin1(raw[i + 1]!)) !== null
      )
        return false;
      continue;
    }
    out.push(name, latin1(raw[i + 1]!));
  }
  res.writeHead(status, out);
  return true;
}

/** Response fields from the raw list, hop-by-hop and Connection-named ones stripped. */
function responseHeaders(raw: RawFields): ProxyHeaders {
  const out: ProxyHeaders = {};
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = latin1(raw[i]!).toLowerCase();
    const value = latin1(raw[i + 1]!);
    if (hopByHop(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (typeof prev === 'string') out[name] = [prev, value];
    else prev.push(value);
  }
  const named = connectionTokens(connection);
  if (named !== null) for (const n of named) delete out[n];
  return out;
}

const kExchange = Symbol('tollgate.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange };
const CLIENT_GONE = new Error('client closed the connection');
const TOO_LARGE = new Error('the body is larger than the service allows');
const PROTOCOL_ERROR = 'TOLLGATE_UPSTREAM_PROTOCOL';
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** Methods a retry may repeat (RFC 9110 §9.2.2), when they carry no body. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Where an exchange goes: an undici Pool or the lane, both called with the Exchange as handler. */
interface Upstream {
  dispatch(opts: ExchangeRequest, handler: Exchange): void;
}

/** One attempt's request, in the shape both undici's dispatch and the lane take. */
interface ExchangeRequest extends LaneRequest {
  readonly headers: ProxyHeaders | string[];
  readonly body: IncomingMessage | Transform | null;
}

/** What dispatches an exchange (again, for a retry). */
interface Dispatch {
  readonly pool: Upstream;
  readonly opts: ExchangeRequest;
}

/**
 * One forwarded exchange, as undici's core dispatch handler (onConnect/onHeaders/onData/…: the
 * interface undici's core calls directly; the controller-style one is adapted onto it per request).
 * Listeners on `res` are shared module functions that find the exchange by symbol: no closures.
 */
class Exchange implements LaneHandler {
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  clientGone = false;
  finished = false;
  /** Retry policy: attempts left, attempts made, and whether the current answer is drained for a retry. */
  attemptsLeft = 0;
  retried = 0;
  discarding = false;
  /** A payload limit was exceeded (request body streamed, or response). */
  tooLarge = false;
  dispatch: Dispatch | null = null;
  /** The first response chunk, kept until the next chunk or the end (see onData). */
  held: Buffer | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly hooks: ForwardHooks | null,
    readonly start: number,
    readonly settings: ForwardSettings | null,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.clientGone) abort(CLIENT_GONE);
  }

  onBodySent(chunk: { length: number }): void {
    this.bytesIn += chunk.length;
  }

  onHeaders(statusCode: number, raw: RawFields, resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx interim answers are not relayed
    this.resume = resume;
    const s = this.settings;
    if (s !== null) {
      if (this.attemptsLeft > 0 && s.retryOn.statuses.has(statusCode)) {
        this.discarding = true; // drained, so the connection is kept; retried on completion
        return true;
      }
      if (s.responseLimit > 0 && contentLength(raw) > s.responseLimit) {
        this.tooLarge = true;
        this.status = GATEWAY_ERRORS.payload_too_large.status;
        sendGatewayError(this.res, 'payload_too_large');
        this.abort?.(TOO_LARGE);
        return false;
      }
    }
    const hook = this.hooks?.onResponseHeaders;
    if (hook === undefined && writeFlatHead(this.res, statusCode, raw)) {
      this.status = statusCode;
      return true;
    }
    const headers = responseHeaders(raw);
    const status = hook?.(statusCode, headers, this.req) ?? statusCode;
    this.res.writeHead(status, headers as OutgoingHttpHeaders); // a throw here aborts the request
    this.status = status;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settings !== null) return this.onDataWithSettings(chunk);
    this.bytesOut += chunk.length;
    // The first chunk is held until the end of this event-loop turn: a body that completes in the same
    // turn then leaves with its head in one write, coalesced with the turn's other answers; otherwise the
    // chunk is written at the end of the turn (a stream's first bytes are never kept waiting longer).
    if (this.held === null && this.bytesOut === chunk.length) {
      this.held = chunk;
      holdUntilTurnEnds(this);
      return true;
    }
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.res.write(held);
    }
    return this.res.write(chunk); // false pauses undici's parser until 'drain'
  }

  /** onData for a service with forwarding policies: drained retries and the response limit. */
  private onDataWithSettings(chunk: Buffer): boolean {
    if (this.discarding || this.tooLarge) return true;
    this.bytesOut += chunk.length;
    const limit = this.settings!.responseLimit;
    if (limit > 0 && this.bytesOut > limit) {
      // Too late for a 413: the head went out. Cut the connection (a truncated body must not look whole).
      this.tooLarge = true;
      this.res.destroy();
      this.abort?.(TOO_LARGE);
      return false;
    }
    return this.res.write(chunk); // false pauses undici's parser until 'drain'
  }

  onComplete(): void {
    if (this.discarding) {
      this.retry();
      return;
    }
    // Upstream trailers are dropped: clients rarely ask for them (TE: trailers).
    const held = this.held;
    this.held = null;
    endCoalesced(this.res, held ?? undefined);
    this.done(undefined);
  }

  onError(err: Error & { code?: string }): void {
    if (this.finished) return;
    const res = this.res;
    if (this.clientGone || res.destroyed || this.req.socket.destroyed) {
      this.done(this.tooLarge ? 'payload_too_large' : 'client_aborted');
      return;
    }
    if (this.tooLarge) {
      if (!res.headersSent) {
        // The request body went over the limit while it streamed: the rest is not read, so close.
        this.status = GATEWAY_ERRORS.payload_too_large.status;
        res.setHeader('connection', 'close');
        sendGatewayError(res, 'payload_too_large');
      }
      this.done('payload_too_large');
      return;
    }
    const timeout = err.code !== undefined && TIMEOUT_CODES.has(err.code);
    if (!res.headersSent && this.attemptsLeft > 0 && this.retryable(err, timeout)) {
      this.retry();
      return;
    }
    if (res.headersSent) {
      // Too late for a status: cutting the socket is the only honest signal of a truncated body.
      res.destroy();
      this.done(timeout ? 'upstream_timeout' : 'upstream_aborted');
      return;
    }
    // Refused, unresolvable, reset or closed before any answer: the upstream is not there for us (502);
    // an answer the lane could not frame is a 502 of its own kind.
    const code = timeout
      ? 'upstream_timeout'
      : err.code === PROTOCOL_ERROR
        ? 'upstream_invalid'
        : 'upstream_unreachable';
    this.status = GATEWAY_ERRORS[code].status;
    sendGatewayError(res, code);
    this.done(code);
  }

  onUpgrade(): void {
    // Upgrades take the raw-socket path (`upgrade()`); forward() never asks undici for one.
  }

  /** Whether a failed attempt may be tried again under the retry policy's cases. */
  private retryable(err: Error & { code?: string }, timeout: boolean): boolean {
    if (this.discarding) return true; // the retried answer's body failed: retry as planned
    const on = this.settings!.retryOn;
    if (timeout || err.code === 'UND_ERR_CONNECT_TIMEOUT') return on.timeout;
    return on.error;
  }

  private retry(): void {
    this.attemptsLeft--;
    this.retried++;
    this.discarding = false;
    this.abort = null;
    this.resume = null;
    this.status = 0;
    const d = this.dispatch!;
    d.pool.dispatch(d.opts, this);
  }

  done(error: ForwardOutcome['error']): void {
    this.finished = true;
    const onDone = this.hooks?.onDone;
    if (onDone === undefined) return;
    const status = this.status === 0 ? 499 : this.status;
    const upstreamMs = performance.now() - this.start;
    const o: ForwardOutcome = { status, upstreamMs, bytesIn: this.bytesIn, bytesOut: this.bytesOut };
    if (error !== undefined || this.retried > 0)
      onDone(
        {
          ...o,
          ...(error !== undefined ? { error } : {}),
          ...(this.retried > 0 ? { retries: this.retried } : {}),
        },
        this.req,
      );
    else onDone(o, this.req);
  }
}

let heldExchanges: Exchange[] = [];

/** Writes the first chunks still held when the turn ends (their bodies did not complete in it). */
function writeHeld(): void {
  const list = heldExchanges;
  heldExchanges = [];
  for (let i = 0; i < list.length; i++) {
    const ex = list[i]!;
    const held = ex.held;
    if (held === null) continue;
    ex.held = null;
    if (!ex.res.destroyed) ex.res.write(held);
  }
}

function holdUntilTurnEnds(ex: Exchange): void {
  if (heldExchanges.push(ex) === 1) setImmediate(writeHeld);
}

/** The response's Content-Length from the raw list, or -1. */
function contentLength(raw: RawFields): number {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 14 && latin1(name).toLowerCase() === 'content-length') {
      const n = Number(latin1(raw[i + 1]!));
      return Number.isFinite(n) ? n : -1;
    }
  }
  return -1;
}

/** Counts a streamed request body on its way upstream; over the limit it fails, and undici aborts. */
class BodyLimit extends Transform {
  private seen = 0;

  constructor(
    private readonly limit: number,
    private readonly ex: Exchange,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.ex.tooLarge = true;
      cb(TOO_LARGE);
      return;
    }
    cb(null, chunk);
  }
}

function onResponseDrain(this: TaggedResponse): void {
  this[kExchange]?.resume?.();
}

function onResponseClose(this: TaggedResponse): void {
  const ex = this[kExchange];
  if (ex === undefined || ex.finished || this.writableFinished) return;
  ex.clientGone = true;
  ex.abort?.(CLIENT_GONE);
}

/** True when the request carries a body (RFC 9112 §6.3): GETs are not sent chunked. */
function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** The body undici sends: none, the request itself, or the request through a streamed-size limit. */
function bodyOf(req: IncomingMessage, ex: Exchange): IncomingMessage | Transform | null {
  if (!hasBody(req)) return null;
  const limit = ex.settings?.requestLimit ?? 0;
  if (limit <= 0) return req;
  const cl = req.headers['content-length'];
  // A declared length within the limit cannot be exceeded (node enforces it); the runtime refused larger.
  if (cl !== undefined && req.headers['transfer-encoding'] === undefined && Number(cl) <= limit) return req;
  const counted = new BodyLimit(limit, ex);
  req.pipe(counted);
  return counted;
}

/**
 * Builds the proxy: per upstream origin (and connect timeout) one lane for bodiless `http:` requests and
 * one undici Pool for the rest, each created on first use and kept alive.
 */
export function createProxy(opts: ProxyOptions = {}): UpstreamProxy {
  const t: ProxyTimeouts = Object.freeze({
    connectMs: 5_000,
    headersMs: 30_000,
    bodyMs: 30_000,
    ...opts.timeouts,
  });
  const pools = new Map<string, Pool>();
  const lanes = new Map<string, H1Lane>();
  const tlsOptions = opts.tls ?? {};
  const keepAliveMs = opts.keepAliveMs ?? 4_000;
  // The lane keeps no connection cap: a capped pool stays on undici, which queues.
  const useLane = opts.upstreamClient !== 'undici' && (opts.connectionsPerOrigin ?? null) === null;

  /** Where a request goes: the lane for a bodiless `http:` one, else the origin's undici pool. */
  function upstreamFor(up: UpstreamTarget, body: unknown, connectMs?: number): Upstream {
    const key = connectMs === undefined ? up.origin : `${up.origin} ${connectMs}`;
    if (useLane && body === null && !up.secure) {
      let lane = lanes.get(key);
      if (lane === undefined) {
        lane = new H1Lane(up.hostname, up.port, up.host, {
          connectTimeout: connectMs ?? t.connectMs,
          headersTimeout: t.headersMs,
          bodyTimeout: t.bodyMs,
          keepAliveTimeout: keepAliveMs,
        });
        lanes.set(key, lane);
      }
      return lane as Upstream;
    }
    // A service's own connect timeout gets its own pool (undici sets it per pool).
    let pool = pools.get(key);
    if (pool === undefined) {
      pool = new Pool(up.origin, {
        connections: opts.connectionsPerOrigin ?? null,
        connectTimeout: connectMs ?? t.connectMs,
        headersTimeout: t.headersMs,
        bodyTimeout: t.bodyMs,
        keepAliveTimeout: keepAliveMs,
        connect: { ...tlsOptions },
      });
      pools.set(key, pool);
    }
    // Exchange speaks undici's core handler interface; its typings describe onBodySent's argument wrongly.
    return pool as unknown as Upstream;
  }

  return {
    forward(req, res, route, hooks, fo) {
      const tagged = res as TaggedResponse;
      if (fo === undefined) {
        const up = route.upstream;
        let headers: ProxyHeaders | string[] | null = null;
        let body: IncomingMessage | null;
        if (hooks?.onRequestHeaders === undefined) headers = flatRequestHeaders(req, up);
        if (headers === null) {
          headers = requestHeaders(req, up, false);
          hooks?.onRequestHeaders?.(headers, req);
          body = hasBody(req) ? req : null;
        } else body = flatHasBody ? req : null;
        const ex = new Exchange(req, res, hooks ?? null, performance.now(), null);
        tagged[kExchange] = ex;
        res.on('drain', onResponseDrain);
        res.on('close', onResponseClose);
        upstreamFor(up, body).dispatch(
          {
            path: up.basePath + (req.url ?? '/'),
            method: req.method ?? 'GET',
            headers,
            body,
            headersTimeout: t.headersMs,
            bodyTimeout: t.bodyMs,
          },
          ex,
        );
        return;
      }
      // A service with forwarding policies: routing's upstream, its timeouts, retries and payload limits.
      const up = fo.upstream;
      const s = fo.settings;
      const headers = requestHeaders(req, up, false);
      hooks?.onRequestHeaders?.(headers, req);
      const ex = new Exchange(req, res, hooks ?? null, performance.now(), s);
      const method = req.method ?? 'GET';
      const body = bodyOf(req, ex);
      if (s !== null && s.retries > 0 && body === null && IDEMPOTENT.has(method)) ex.attemptsLeft = s.retries;
      tagged[kExchange] = ex;
      res.on('drain', onResponseDrain);
      res.on('close', onResponseClose);
      const d: Dispatch = {
        pool: upstreamFor(up, body, s?.connectMs),
        opts: {
          path: up.basePath + (req.url ?? '/'),
          method,
          headers,
          body,
          headersTimeout: s?.readMs ?? t.headersMs,
          bodyTimeout: s?.readMs ?? t.bodyMs,
        },
      };
      ex.dispatch = d;
      d.pool.dispatch(d.opts, ex);
    },

    upgrade(req, socket, head, route, hooks, fo) {
      const up = fo?.upstream ?? route.upstream;
      const headers = requestHeaders(req, up, true);
      hooks?.onRequestHeaders?.(headers, req);
      const connectMs = fo?.settings?.connectMs;
      const readMs = fo?.settings?.readMs;
      const tt =
        connectMs === undefined && readMs === undefined
          ? t
          : {
              connectMs: connectMs ?? t.connectMs,
              headersMs: readMs ?? t.headersMs,
              bodyMs: readMs ?? t.bodyMs,
            };
      tunnel(req, socket, head, up, headers, tt, tlsOptions);
    },

    async close() {
      const all = [...pools.values(), ...lanes.values()];
      pools.clear();
      lanes.clear();
      await Promise.all(all.map((p) => p.close()));
    },
  };
}

/** Serialises a request head; values holding CR/LF (only a hook could produce them) are dropped. */
function requestHead(method: string, path: string, headers: ProxyHeaders): string {
  let s = `${method} ${path} HTTP/1.1\r\n`;
  for (const name of Object.keys(headers)) {
    const v = headers[name];
    if (v === undefined) continue;
    for (const one of typeof v === 'string' ? [v] : v) {
      if (!/[\r\n]/.test(one) && !/[\r\n:]/.test(name)) s += `${name}: ${one}\r\n`;
    }
  }
  return `${s}\r\n`;
}

/** A raw error answer on a socket that has not been handed an HTTP response yet. */
function rawError(socket: Duplex, code: GatewayErrorCode): void {
  if (socket.destroyed || !socket.writable) return;
  const body = ERROR_BODIES[code];
  const status = GATEWAY_ERRORS[code].status;
  const reason = status === 504 ? 'Gateway Timeout' : 'Bad Gateway';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n` +
      `connection: close\r\n\r\n${body.toString()}`,
  );
}

/**
 * The upgrade path: the upstream's answer (101 or a refusal) is relayed byte for byte, so the
 * WebSocket handshake stays end to end. Upgrades are rare and long-lived; closures are fine here.
 */
function tunnel(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  up: UpstreamTarget,
  headers: ProxyHeaders,
  t: ProxyTimeouts,
  tlsOptions: NonNullable<ProxyOptions['tls']>,
): void {
  const upstream = up.secure
    ? tls.connect({ ...tlsOptions, host: up.hostname, port: up.port, servername: up.hostname })
    : net.connect({ host: up.hostname, port: up.port });
  let phase: 'connect' | 'headers' | 'open' = 'connect';
  upstream.setNoDelay(true);
  upstream.setTimeout(t.connectMs, () => {
    upstream.destroy();
    rawError(client, phase === 'connect' ? 'upstream_unreachable' : 'upstream_timeout');
  });
  upstream.on('error', () => {
    if (phase === 'open') client.destroy();
    else rawError(client, 'upstream_unreachable');
  });
  client.on('error', () => upstream.destroy());
  upstream.once(up.secure ? 'secureConnect' : 'connect', () => {
    phase = 'headers';
    upstream.setTimeout(t.headersMs);
    upstream.write(requestHead(req.method ?? 'GET', up.basePath + (req.url ?? '/'), headers));
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    // The pipe back starts with the first byte, so an upstream that hangs up silently still gets a 502.
    upstream.once('data', (first: Buffer) => {
      phase = 'open';
      upstream.setTimeout(0); // a WebSocket may idle for hours: the peers' pings decide
      client.write(first);
      upstream.pipe(client);
    });
  });
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => {
    if (phase === 'open') client.end();
    else rawError(client, 'upstream_unreachable');
  });
}
