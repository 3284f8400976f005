// Baseline of the gateway benchmark: the fastest bare Node reverse proxy we know how to write — a
// node:http server streaming each exchange through undici's core `dispatch` API to one keep-alive Pool.
// No auth, no metering, no metrics: only what any correct proxy must do (hop-by-hop fields stripped
// both ways, Host replaced by the upstream's, bodies streamed with back-pressure, 502 when the upstream
// fails). One handler object per exchange speaking undici's core handler interface (onConnect/onHeaders/
// onData/onComplete/onError, which undici calls directly), methods on its prototype, no closures; the
// response header list is one module-level array refilled per answer (writeHead copies it at once).
// Usage: UPSTREAM=http://127.0.0.1:PORT node bench/bare-proxy.mjs
import http from 'node:http';
import { Pool } from 'undici';

const origin = process.env.UPSTREAM;
if (!origin) {
  console.error('UPSTREAM=http://host:port is required');
  process.exit(2);
}
const upstreamHost = new URL(origin).host;
// Unbounded connections (a request never waits in the pool's queue), long keep-alive.
const pool = new Pool(origin, { connections: null, pipelining: 1, keepAliveTimeout: 60_000 });

/** Hop-by-hop fields (RFC 9110 §7.6.1) plus Host, by lower-case name. */
function isDropped(lower) {
  switch (lower) {
    case 'host':
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'te':
    case 'trailer':
    case 'transfer-encoding':
    case 'upgrade':
      return true;
    default:
      return false;
  }
}

const BAD_GATEWAY = Buffer.from('{"code":"upstream_unreachable"}');
const BAD_GATEWAY_HEADERS = [
  'content-type',
  'application/json',
  'content-length',
  String(BAD_GATEWAY.length),
];
const responseHeaders = []; // refilled per answer; writeHead serialises it synchronously

class Exchange {
  constructor(res) {
    this.res = res;
    this.abort = null;
    this.resume = null;
  }

  onConnect(abort) {
    this.abort = abort;
  }

  onHeaders(statusCode, raw, resume) {
    if (statusCode < 200) return true;
    this.resume = resume;
    const out = responseHeaders;
    out.length = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toString('latin1');
      if (isDropped(name.toLowerCase())) continue;
      out.push(name, raw[i + 1].toString('latin1'));
    }
    this.res.writeHead(statusCode, out);
    return true;
  }

  onData(chunk) {
    const res = this.res;
    if (res.destroyed) {
      this.abort?.(new Error('client gone'));
      return false;
    }
    if (res.write(chunk)) return true;
    // Back-pressure: undici pauses until 'drain' (a listener only on this slow path).
    res.once('drain', this.resume);
    return false;
  }

  onComplete() {
    this.res.end();
  }

  onError() {
    const res = this.res;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    res.writeHead(502, BAD_GATEWAY_HEADERS);
    res.end(BAD_GATEWAY);
  }
}

function handle(req, res) {
  const raw = req.rawHeaders;
  const headers = ['host', upstreamHost];
  for (let i = 0; i < raw.length; i += 2) {
    if (!isDropped(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
  }
  const h = req.headers;
  const body = h['transfer-encoding'] !== undefined || (h['content-length'] ?? '0') !== '0' ? req : null;
  pool.dispatch({ path: req.url, method: req.method, headers, body }, new Exchange(res));
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, handle);
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', role: 'bare-proxy', port: server.address().port }));
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => pool.close().then(() => process.exit(0)));
});
