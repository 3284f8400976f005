/**
 * The backend's HTTP face on bare node:http: 3scale's Service Management API routes, headers, status codes
 * and bodies (§2–§4), including its quirks (XML content type on every answer, bare 403/404, CORS).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { endCoalesced } from '../server/coalesce.js';
import { type AuthOutcome, authorize, type Endpoint, type Extensions, NO_EXTENSIONS } from './authorize.js';
import type { BackendDeps } from './deps.js';
import { type BackendError, backendError, badRequestMessage } from './errors.js';
import { ErrorRecorder, type RecorderOptions } from './events.js';
import {
  DEFAULT_PARAM_LIMITS,
  type ParamLimits,
  type ParamMap,
  type ParseResult,
  parseMultipart,
  parseParams,
} from './params.js';
import { acceptReport, type ReportOutcome } from './report.js';
import { UsageQueue } from './usage-queue.js';
import { errorXml, statusXml } from './xml.js';

export const XML_CONTENT_TYPE = 'application/vnd.3scale-v2.0+xml';
const ALLOW_ORIGIN = 'Access-Control-Allow-Origin';
const EXPOSE = 'Access-Control-Expose-Headers';
const EXPOSED = 'ETag, Link, 3scale-rejection-reason';
const CSP = 'Content-Security-Policy';
const CSP_VALUE = "default-src 'self'";
const PREFLIGHT_HEADERS: readonly string[] = [
  'Content-Type',
  XML_CONTENT_TYPE,
  ALLOW_ORIGIN,
  '*',
  EXPOSE,
  EXPOSED,
  CSP,
  CSP_VALUE,
  'Access-Control-Max-Age',
  '86400',
  'Access-Control-Allow-Methods',
  'GET, POST, PATCH, PUT, DELETE',
  'Access-Control-Allow-Headers',
  'Authorization, Accept-Encoding, Content-Type, Cache-Control, Accept, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since, X-Requested-With, X-HTTP-Method-Override, 3scale-options',
];

/** Options of the handler. */
export interface BackendHandlerOptions {
  /** Gets requests for paths the backend does not serve (e.g. `/health`, `/metrics`); returns true if it answered. */
  readonly fallback?: (req: IncomingMessage, res: ServerResponse) => boolean;
  readonly paramLimits?: ParamLimits;
  readonly recorders?: RecorderOptions;
  /** Told about store faults answered with 503 (for logging). */
  readonly onStoreError?: (err: unknown) => void;
}

/** A node:http request listener with its recorders; `close()` flushes them. */
export interface BackendHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly events: UsageQueue;
  readonly errors: ErrorRecorder;
  close(): Promise<void>;
}

const AUTH_ROUTES: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  ['/transactions/authorize.xml', 'authorize'],
  ['/transactions/authrep.xml', 'authrep'],
  ['/transactions/oauth_authorize.xml', 'oauth_authorize'],
  ['/transactions/oauth_authrep.xml', 'oauth_authrep'],
]);

function send(
  res: ServerResponse,
  status: number,
  body: string,
  csp: boolean,
  extra?: readonly string[],
): void {
  const headers: string[] = [
    'Content-Type',
    XML_CONTENT_TYPE,
    ALLOW_ORIGIN,
    '*',
    EXPOSE,
    EXPOSED,
    'Content-Length',
    String(Buffer.byteLength(body)),
  ];
  if (csp) headers.push(CSP, CSP_VALUE);
  if (extra !== undefined) for (const h of extra) headers.push(h);
  res.writeHead(status, headers);
  endCoalesced(res, body);
}

function sendPlain(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, [
    'Content-Type',
    type,
    ALLOW_ORIGIN,
    '*',
    EXPOSE,
    EXPOSED,
    CSP,
    CSP_VALUE,
    'Content-Length',
    String(Buffer.byteLength(body)),
  ]);
  res.end(body);
}

const on = (v: unknown): boolean => v === '1';

/** Reads the `3scale-options` header (a query string; flags are on only when exactly `1`). */
function extensions(req: IncomingMessage, p: ParamMap, limits: ParamLimits): Extensions {
  const raw = req.headers['3scale-options'];
  const urlNoBody = noBodyValue(p.no_body);
  if (raw === undefined || raw === '') return urlNoBody ? { ...NO_EXTENSIONS, noBody: true } : NO_EXTENSIONS;
  const parsed = parseParams(Array.isArray(raw) ? raw.join('&') : raw, limits);
  if (!parsed.ok) return urlNoBody ? { ...NO_EXTENSIONS, noBody: true } : NO_EXTENSIONS;
  const o = parsed.params;
  return {
    noBody: urlNoBody || noBodyValue(o.no_body),
    rejectionReasonHeader: on(o.rejection_reason_header),
    limitHeaders: on(o.limit_headers),
    hierarchy: on(o.hierarchy),
    flatUsage: on(o.flat_usage),
    listAppKeys: on(o.list_app_keys),
  };
}

function noBodyValue(v: unknown): boolean {
  return typeof v === 'string' && v !== '0' && v !== 'false';
}

/** Builds the request listener. */
export function createBackendHandler(deps: BackendDeps, opts: BackendHandlerOptions = {}): BackendHandler {
  const limits = opts.paramLimits ?? DEFAULT_PARAM_LIMITS;
  // Up to 5000 events per record: one log append per flush even at tens of thousands of calls/s; a
  // failed write is dropped and counted (authrep answers never wait behind a dead usage log).
  const events = new UsageQueue(deps.usageLog, {
    maxBatch: 5000,
    maxQueue: 50_000,
    ...opts.recorders,
    retryFailedWrites: false,
  });
  const errors = new ErrorRecorder(deps.errorLog, opts.recorders);
  const fallback = opts.fallback;

  function logError(serviceId: string | null, e: BackendError): void {
    if (serviceId !== null)
      errors.record(serviceId, { code: e.code, message: e.message, timestamp: deps.clock() });
  }

  function storeFault(res: ServerResponse, err: unknown): void {
    opts.onStoreError?.(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e = backendError('store_unavailable');
    send(res, e.status, errorXml(e.code, e.message), false);
  }

  function badRequest(res: ServerResponse, r: Extract<ParseResult, { ok: false }>): void {
    send(res, 400, errorXml('bad_request', badRequestMessage(r.fault, r.count)), false);
  }

  function renderAuth(res: ServerResponse, ext: Extensions, o: AuthOutcome): void {
    switch (o.kind) {
      case 'bare':
        send(res, o.status, '', false);
        return;
      case 'error': {
        logError(o.serviceId, o.error);
        const keep = o.error.code === 'bad_request' || o.error.code === 'not_valid_data';
        send(res, o.error.status, ext.noBody && !keep ? '' : errorXml(o.error.code, o.error.message), false);
        return;
      }
      case 'status': {
        if (o.event !== null) events.record(o.event);
        let extra: string[] | undefined;
        if (!o.authorized && ext.rejectionReasonHeader && o.denyCode !== null) {
          extra = ['3scale-rejection-reason', o.denyCode];
        }
        const lh = o.limitHeaders;
        if (lh !== null) {
          extra ??= [];
          extra.push('3scale-limit-remaining', String(lh.remaining), '3scale-limit-reset', String(lh.reset));
          if (lh.max !== null) extra.push('3scale-limit-max-value', String(lh.max));
        }
        send(res, o.authorized ? 200 : 409, ext.noBody ? '' : statusXml(o.body), true, extra);
        return;
      }
    }
  }

  function handleAuth(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, query: string): void {
    const parsed = parseParams(query, limits);
    if (!parsed.ok) {
      badRequest(res, parsed);
      return;
    }
    const ext = extensions(req, parsed.params, limits);
    let o: AuthOutcome | Promise<AuthOutcome>;
    try {
      o = authorize(deps, { endpoint, params: parsed.params, invalidUtf8: parsed.invalidUtf8, ext });
    } catch (err) {
      storeFault(res, err);
      return;
    }
    // In-process stores answer synchronously: the response is written without a promise round trip.
    if (o instanceof Promise)
      o.then(
        (x) => renderAuth(res, ext, x),
        (err) => storeFault(res, err),
      );
    else renderAuth(res, ext, o);
  }

  function renderReport(res: ServerResponse, o: ReportOutcome): void {
    if (o.kind === 'accepted') {
      send(res, 202, '', true);
      return;
    }
    logError(o.serviceId, o.error);
    send(res, o.error.status, errorXml(o.error.code, o.error.message), false);
  }

  function handleReport(req: IncomingMessage, res: ServerResponse, query: string): void {
    const ct = req.headers['content-type'];
    let boundary: string | null = null;
    if (ct !== undefined && ct.trim() !== '') {
      const semi = ct.indexOf(';');
      const base = (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
      if (base === 'multipart/form-data') {
        const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(ct);
        boundary = m === null ? '' : (m[1] ?? m[2] ?? '').trim();
      } else if (base !== 'application/x-www-form-urlencoded') {
        const e = backendError('content_type_invalid', ct);
        req.resume();
        send(res, e.status, errorXml(e.code, e.message), false);
        return;
      }
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBytes) tooBig = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooBig) {
        badRequest(res, { ok: false, fault: 'size', count: size });
        return;
      }
      const q = parseParams(query, limits);
      if (!q.ok) {
        badRequest(res, q);
        return;
      }
      const buf = Buffer.concat(chunks);
      const b =
        boundary === null
          ? parseParams(buf.toString('latin1'), limits)
          : parseMultipart(buf, boundary, limits);
      if (!b.ok) {
        badRequest(res, b);
        return;
      }
      // Rack merges query and body parameters, the body winning.
      const params = q.params;
      for (const k in b.params) params[k] = b.params[k];
      acceptReport(deps, params, q.invalidUtf8 || b.invalidUtf8).then(
        (o) => renderReport(res, o),
        (err) => storeFault(res, err),
      );
    });
  }

  const handler = ((req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const query = qi < 0 ? '' : url.slice(qi + 1);
    const method = req.method;
    if (method === 'OPTIONS') {
      res.writeHead(204, PREFLIGHT_HEADERS as string[]);
      res.end();
      return;
    }
    const endpoint = AUTH_ROUTES.get(path);
    const isGet = method === 'GET' || method === 'HEAD';
    if (endpoint !== undefined && isGet) {
      handleAuth(req, res, endpoint, query);
      return;
    }
    if (path === '/transactions.xml' && method === 'POST') {
      handleReport(req, res, query);
      return;
    }
    if (path === '/status' && isGet) {
      sendPlain(
        res,
        200,
        'application/json',
        JSON.stringify({ status: 'ok', version: { backend: deps.version } }),
      );
      return;
    }
    if (path === '/check.txt' && isGet) {
      sendPlain(res, 200, 'text/plain', 'ok');
      return;
    }
    if (path === '/available' && method === 'HEAD') {
      send(res, 200, '', true);
      return;
    }
    if (fallback?.(req, res)) return;
    send(res, 404, '', false);
  }) as BackendHandler;

  Object.defineProperties(handler, {
    events: { value: events },
    errors: { value: errors },
    close: { value: async () => Promise.all([events.flush(), errors.flush()]).then(() => undefined) },
  });
  return handler;
}

// Bodiless: the request was not parsed, so it may have been a HEAD that must not get a body.
const CLIENT_ERROR_RESPONSE = `HTTP/1.1 400 Bad Request\r\nContent-Type: ${XML_CONTENT_TYPE}\r\n${ALLOW_ORIGIN}: *\r\n${EXPOSE}: ${EXPOSED}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;

/**
 * A `clientError` listener for the backend's node:http server: requests node's parser refuses (raw
 * non-ASCII in the URL, bad headers) get a 400 with 3scale's content type and CORS headers.
 * Attach with `server.on('clientError', backendClientError)`.
 */
export function backendClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(CLIENT_ERROR_RESPONSE);
}
