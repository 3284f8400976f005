/**
 * A listener of one role: a node:http server that answers `GET /health` and `GET /metrics` itself and
 * hands every other request to the role's handler. Port 0 picks a free port (reported back).
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Listener {
  readonly name: string;
  readonly port: number;
  readonly server: http.Server;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

export interface ListenOptions {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** True once the process can serve this role. */
  readonly ready: () => boolean;
  readonly handler?: RequestListener;
  /** Answers requests node's HTTP parser refuses (default: node's bare 400). */
  readonly clientError?: (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => void;
}

/** Answers /health and /metrics; returns false when the request is someone else's. */
export function serveOps(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  ready: () => boolean,
): boolean {
  const url = req.url ?? '';
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (url === '/health' || url.startsWith('/health?')) {
    const ok = ready();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'ok' : 'starting' }));
    return true;
  }
  if (url === '/metrics' || url.startsWith('/metrics?')) {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics unavailable\n');
      },
    );
    return true;
  }
  return false;
}

function notFound(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"code":"not_found","message":"no such route"}');
}

export async function listen(opts: ListenOptions): Promise<Listener> {
  const handler = opts.handler ?? notFound;
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    if (!serveOps(req, res, opts.registry, opts.ready)) handler(req, res);
  });
  if (opts.clientError) server.on('clientError', opts.clientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return { name: opts.name, port, server, close: (graceMs) => closeServer(server, graceMs) };
}

/** Graceful close of any node:http server (also used for Fastify's underlying server). */
export function closeServer(server: http.Server, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
