// Gateway proxy over real sockets: routing, streaming with backpressure, hop-by-hop rules, 502/504, keep-alive, WebSocket.
// The whole suite runs once per upstream client (`upstreamClient: 'lane' | 'undici'`): with the lane, bodiless
// requests take the gateway's own HTTP/1.1 client (h1-lane.ts) and requests with bodies undici; with undici, all do.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProxy,
  type ForwardOutcome,
  type ProxyTimeouts,
  type UpstreamProxy,
} from '../../src/gateway/proxy.js';
import { compileRoutes, type RouteSpec } from '../../src/gateway/router.js';
import { createGatewayHandler } from './proxy-handler.js';

const MiB = 1024 * 1024;
const BIG = 64 * MiB;
const CHUNK = Buffer.alloc(MiB, 'tollgate-');

async function listen(server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Polls until `cond` holds; false when it never did within `ms` (a liveness bound, not a speed check). */
async function waitFor(cond: () => boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** A raw TCP upstream: `onSocket` scripts the exact bytes each connection gets; `close` ends them all. */
async function rawUpstream(
  onSocket: (sock: net.Socket) => void,
): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const raw = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    onSocket(sock);
  });
  raw.listen(0, '127.0.0.1');
  await once(raw, 'listening');
  return {
    port: (raw.address() as AddressInfo).port,
    connections: () => connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    },
  };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(port: number, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      port,
      host: '127.0.0.1',
      path,
      method: body ? 'POST' : 'GET',
      headers,
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }),
      );
    });
    req.end(body);
  });
}

/** The upstream: echoes what it saw, sinks and sources big bodies, hangs and stalls on demand. */
interface Upstream {
  readonly server: http.Server;
  port: number;
  sinkReceived: number;
  sourceWritten: number;
  sourceBlocked: boolean;
  clientReceived: number;
  sawClientAhead: boolean;
  hangs: number;
  hangsClosed: number;
  readonly echoUpgrades: IncomingHttpHeaders[];
}

/** One upstream per client run: its counters belong to that run alone. */
async function startUpstream(): Promise<Upstream> {
  const upstream: Upstream = {
    server: http.createServer(),
    port: 0,
    sinkReceived: 0,
    sourceWritten: 0,
    sourceBlocked: false,
    clientReceived: 0,
    sawClientAhead: false,
    hangs: 0,
    hangsClosed: 0,
    echoUpgrades: [],
  };

  upstream.server.on('request', (req: IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '';
    if (url.includes('/sink')) {
      upstream.sinkReceived = 0;
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => {
        upstream.sinkReceived += c.length;
        hash.update(c);
      });
      req.on('end', () => res.end(JSON.stringify({ bytes: upstream.sinkReceived, sha: hash.digest('hex') })));
      return;
    }
    if (url.includes('/source')) {
      void source(upstream, res, url.includes('wait=client'));
      return;
    }
    if (url.includes('/hang')) {
      upstream.hangs++; // never answers; counts connections the gateway cut
      res.on('close', () => upstream.hangsClosed++);
      return;
    }
    if (url.includes('/stall')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part, then silence');
      return;
    }
    if (url.includes('/hop')) {
      res.setHeader('connection', 'keep-alive, X-Up-Hop');
      res.setHeader('x-up-hop', 'secret');
      res.setHeader('keep-alive', 'timeout=5');
      res.setHeader('proxy-authenticate', 'Basic realm="up"');
      res.setHeader('trailer', 'x-checksum');
      res.setHeader('x-up-kept', 'yes');
      res.end('ok');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          url,
          method: req.method,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });

  /** A tiny WebSocket-ish upgrade server: answers 101 with the RFC 6455 accept key, then echoes raw bytes. */
  upstream.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    upstream.echoUpgrades.push(req.headers);
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.pipe(socket);
  });

  upstream.port = await listen(upstream.server);
  return upstream;
}

/** Writes BIG bytes honouring backpressure; with `waitClient`, holds the last MiB until the client has most. */
async function source(upstream: Upstream, res: http.ServerResponse, waitClient: boolean): Promise<void> {
  upstream.sourceWritten = 0;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG) });
  for (let i = 0; i < BIG / MiB; i++) {
    if (waitClient && i === BIG / MiB - 1) {
      upstream.sawClientAhead = await waitFor(() => upstream.clientReceived >= BIG - 16 * MiB);
    }
    upstream.sourceWritten += CHUNK.length;
    if (!res.write(CHUNK)) {
      upstream.sourceBlocked = true;
      await once(res, 'drain');
      upstream.sourceBlocked = false;
    }
  }
  res.end();
}

function specs(upstreamPort: number, closedPort: number): RouteSpec[] {
  const base = `http://127.0.0.1:${upstreamPort}`;
  return [
    { id: 'a', hosts: ['a.test'], upstream: `${base}/svc-a` },
    { id: 'b-root', hosts: ['b.test'], upstream: `${base}/svc-b` },
    { id: 'b-v1', hosts: ['b.test'], pathPrefix: '/v1', upstream: `${base}/svc-b-v1/` },
    { id: 'wild', hosts: ['*.wild.test'], upstream: base },
    { id: 'down', hosts: ['down.test'], upstream: `http://127.0.0.1:${closedPort}` },
  ];
}

type UpstreamClient = 'lane' | 'undici';

interface Gateway {
  port: number;
  server: http.Server;
  proxy: UpstreamProxy;
}

/** A gateway whose proxy carries bodiless `http:` requests over `client`; the wild route's outcomes go to `outcomes`. */
async function startGateway(
  client: UpstreamClient,
  routes: RouteSpec[],
  timeouts: Partial<ProxyTimeouts>,
  outcomes: ForwardOutcome[] = [],
): Promise<Gateway> {
  const proxy = createProxy({ timeouts, upstreamClient: client });
  const h = createGatewayHandler({
    router: compileRoutes(routes),
    proxy,
    hooksFor: (route) =>
      route.id === 'wild'
        ? {
            onRequestHeaders: (headers) => {
              headers['x-policy'] = 'added';
              delete headers['x-drop-me'];
            },
            onResponseHeaders: (_status, headers) => {
              headers['x-gateway'] = 'tollgate';
            },
            onDone: (o) => outcomes.push(o),
          }
        : undefined,
  });
  const server = http.createServer(h.request);
  server.on('upgrade', h.upgrade);
  return { server, proxy, port: await listen(server) };
}

async function stopGateway(g: Gateway | undefined): Promise<void> {
  if (g === undefined) return;
  await closeServer(g.server);
  await g.proxy.close();
}

/** A gateway with one route, `host` → the upstream on `port`, for the length of `use`. */
async function throughGateway(
  client: UpstreamClient,
  host: string,
  port: number,
  use: (g: Gateway) => Promise<void>,
): Promise<void> {
  const g = await startGateway(
    client,
    [{ id: host, hosts: [host], upstream: `http://127.0.0.1:${port}` }],
    {},
  );
  try {
    await use(g);
  } finally {
    await stopGateway(g);
  }
}

describe.each(['lane', 'undici'] as const)('proxy over %s', (client) => {
  // Everything a run touches is its own: upstream (and its counters), gateways, outcomes.
  let upstream: Upstream;
  let closedPort = 0;
  const outcomes: ForwardOutcome[] = [];
  let gw: Gateway;
  let fast: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    const probe = http.createServer();
    closedPort = await listen(probe);
    await closeServer(probe);
    const routes = specs(upstream.port, closedPort);
    gw = await startGateway(
      client,
      routes,
      { connectMs: 2_000, headersMs: 15_000, bodyMs: 15_000 },
      outcomes,
    );
    fast = await startGateway(client, routes, { connectMs: 2_000, headersMs: 300, bodyMs: 300 }, outcomes);
  });

  afterAll(async () => {
    await stopGateway(gw);
    await stopGateway(fast);
    if (upstream !== undefined) await closeServer(upstream.server);
  });

  describe('routing', () => {
    it('routes by host onto the upstream base path, and by the longest prefix on a shared host', async () => {
      const a = JSON.parse((await send(gw.port, '/hello?x=1', { host: 'a.test' })).body);
      expect(a.url).toBe('/svc-a/hello?x=1');
      const v1 = JSON.parse((await send(gw.port, '/v1/items', { host: 'B.test:8080' })).body);
      expect(v1.url).toBe('/svc-b-v1/v1/items');
      const root = JSON.parse((await send(gw.port, '/v2/items', { host: 'b.test' })).body);
      expect(root.url).toBe('/svc-b/v2/items');
    });

    it(`carries a bodiless GET over the ${client} client`, async () => {
      // Guards the parameterisation: undici always sends a Connection field upstream, the lane never does.
      const seen = JSON.parse((await send(gw.port, '/which', { host: 'a.test' })).body) as {
        headers: IncomingHttpHeaders;
      };
      expect(seen.headers.connection).toBe(client === 'lane' ? undefined : 'keep-alive');
    });

    it('answers 404 no_route for an unknown host', async () => {
      const r = await send(gw.port, '/', { host: 'nobody.test' });
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body).code).toBe('no_route');
    });
  });

  describe('headers', () => {
    it('sets X-Forwarded-* (appending to an incoming X-Forwarded-For) and sends the upstream Host', async () => {
      const r = await send(gw.port, '/xf', { host: 'a.test:1234', 'x-forwarded-for': '203.0.113.7' });
      const seen = JSON.parse(r.body).headers as IncomingHttpHeaders;
      expect(seen['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(seen['x-forwarded-proto']).toBe('http');
      expect(seen['x-forwarded-host']).toBe('a.test:1234');
      expect(seen.host).toBe(`127.0.0.1:${upstream.port}`);
      const fresh = JSON.parse((await send(gw.port, '/xf', { host: 'a.test' })).body)
        .headers as IncomingHttpHeaders;
      expect(fresh['x-forwarded-for']).toBe('127.0.0.1');
    });

    it('strips hop-by-hop request headers, including those the Connection header names', async () => {
      const sock = net.connect(gw.port, '127.0.0.1');
      // write, not end: node's server aborts in-flight requests of a half-closed connection.
      sock.write(
        'POST /rawreq HTTP/1.1\r\nHost: a.test\r\nConnection: close, X-Client-Hop\r\nX-Client-Hop: secret\r\n' +
          'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n' +
          'TE: trailers\r\nTrailer: x-sum\r\nX-Kept: yes\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '5\r\nhello\r\n0\r\n\r\n',
      );
      const parts: Buffer[] = [];
      sock.on('data', (c: Buffer) => parts.push(c));
      await once(sock, 'close');
      const raw = Buffer.concat(parts).toString();
      expect(raw.slice(0, 200)).toMatch(/^HTTP\/1.1 200/);
      const seen = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as {
        headers: IncomingHttpHeaders;
        body: string;
      };
      expect(seen.body).toBe('hello');
      expect(seen.headers['x-kept']).toBe('yes');
      for (const h of [
        'x-client-hop',
        'keep-alive',
        'proxy-connection',
        'proxy-authorization',
        'te',
        'trailer',
      ]) {
        expect(seen.headers[h], h).toBeUndefined();
      }
      // undici speaks keep-alive to the upstream whatever the client asked for.
      expect(seen.headers.connection ?? 'keep-alive').toBe('keep-alive');
    });

    it('strips hop-by-hop response headers, including those the Connection header names', async () => {
      const r = await send(gw.port, '/hop', { host: 'a.test', connection: 'close' });
      expect(r.status).toBe(200);
      expect(r.body).toBe('ok');
      expect(r.headers['x-up-kept']).toBe('yes');
      for (const h of ['x-up-hop', 'keep-alive', 'proxy-authenticate', 'trailer']) {
        expect(r.headers[h], h).toBeUndefined();
      }
      expect(r.headers.connection).toBe('close'); // node's own, for this client connection
    });

    it('runs the stage hooks: request and response mutators, and onDone with sizes', async () => {
      outcomes.length = 0;
      const r = await send(gw.port, '/hooks', { host: 'x.wild.test', 'x-drop-me': '1' }, 'payload');
      const seen = JSON.parse(r.body) as { headers: IncomingHttpHeaders };
      expect(seen.headers['x-policy']).toBe('added');
      expect(seen.headers['x-drop-me']).toBeUndefined();
      expect(r.headers['x-gateway']).toBe('tollgate');
      expect(await waitFor(() => outcomes.length === 1)).toBe(true);
      expect(outcomes[0]).toMatchObject({ status: 200, bytesIn: 7, bytesOut: Buffer.byteLength(r.body) });
      expect(outcomes[0]?.error).toBeUndefined();
    });
  });

  describe('streaming', () => {
    it('streams a 64 MiB upload: the upstream has most of it before the client sends the last MiB', async () => {
      const req = http.request({
        port: gw.port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/sink',
        headers: { host: 'a.test' }, // no content-length: chunked all the way
        agent: false,
      });
      const response = once(req, 'response') as Promise<[IncomingMessage]>;
      const hash = createHash('sha256');
      let reached = false;
      for (let i = 0; i < BIG / MiB; i++) {
        if (i === BIG / MiB - 1) reached = await waitFor(() => upstream.sinkReceived >= BIG - 16 * MiB);
        hash.update(CHUNK);
        if (!req.write(CHUNK)) await once(req, 'drain');
      }
      req.end();
      const [res] = await response;
      const parts: Buffer[] = [];
      for await (const c of res) parts.push(c as Buffer);
      const got = JSON.parse(Buffer.concat(parts).toString()) as { bytes: number; sha: string };
      expect(reached).toBe(true);
      expect(got.bytes).toBe(BIG);
      expect(got.sha).toBe(hash.digest('hex'));
    });

    it('streams a 64 MiB download: the client has most of it before the upstream sends the last MiB', async () => {
      upstream.clientReceived = 0;
      upstream.sawClientAhead = false;
      const req = http.request({
        port: gw.port,
        host: '127.0.0.1',
        path: '/source?wait=client',
        headers: { host: 'a.test' },
        agent: false,
      });
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      for await (const c of res) upstream.clientReceived += (c as Buffer).length;
      expect(upstream.sawClientAhead).toBe(true); // the client had most bytes before the upstream's last write
      expect(upstream.clientReceived).toBe(BIG);
    });

    it('propagates backpressure: a client that stops reading stops the upstream well short of the body', async () => {
      const req = http.request({
        port: gw.port,
        host: '127.0.0.1',
        path: '/source',
        headers: { host: 'a.test' },
        agent: false,
      });
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      res.pause();
      // Wait until the upstream is blocked on a full pipe and its count stops moving.
      let last = -1;
      let stablePolls = 0;
      const settled = await waitFor(() => {
        stablePolls = upstream.sourceBlocked && upstream.sourceWritten === last ? stablePolls + 1 : 0;
        last = upstream.sourceWritten;
        return stablePolls >= 20;
      });
      expect(settled).toBe(true);
      expect(upstream.sourceWritten).toBeLessThan(BIG - 16 * MiB);
      let received = 0;
      for await (const c of res) received += (c as Buffer).length;
      expect(received).toBe(BIG);
    });
  });

  describe('upstream failures', () => {
    it('answers 502 upstream_unreachable when nothing listens on the upstream port', async () => {
      const r = await send(gw.port, '/', { host: 'down.test' });
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body)).toMatchObject({ code: 'upstream_unreachable' });
    });

    it('answers 504 upstream_timeout when the upstream never sends headers', async () => {
      const r = await send(fast.port, '/hang', { host: 'a.test' });
      expect(r.status).toBe(504);
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body)).toMatchObject({ code: 'upstream_timeout' });
    });

    it('cuts the client socket when the body stalls after the response started', async () => {
      const req = http.request({
        port: fast.port,
        host: '127.0.0.1',
        path: '/stall',
        headers: { host: 'a.test' },
        agent: false,
      });
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      expect(res.statusCode).toBe(200);
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      const outcome = await new Promise<string>((resolve) => {
        res.on('end', () => resolve('end'));
        res.on('error', () => resolve('error'));
        res.on('close', () => resolve(res.complete ? 'end' : 'cut'));
      });
      expect(outcome).not.toBe('end');
      expect(res.complete).toBe(false);
      expect(body).toBe('first part, then silence');
    });

    it('aborts the upstream request when the client goes away, and reports client_aborted', async () => {
      outcomes.length = 0;
      const before = upstream.hangs;
      const closedBefore = upstream.hangsClosed;
      const req = http.request({
        port: gw.port,
        host: '127.0.0.1',
        path: '/hang',
        headers: { host: 'x.wild.test' },
        agent: false,
      });
      req.on('error', () => {});
      req.end();
      expect(await waitFor(() => upstream.hangs === before + 1)).toBe(true);
      req.destroy();
      expect(await waitFor(() => upstream.hangsClosed === closedBefore + 1)).toBe(true);
      expect(await waitFor(() => outcomes.length === 1)).toBe(true);
      expect(outcomes[0]).toMatchObject({ status: 499, error: 'client_aborted', bytesOut: 0 });
    });
  });

  describe('keep-alive', () => {
    it('reuses one upstream connection for 50 sequential requests', async () => {
      const counted = http.createServer((_req, res) => res.end('ok'));
      let connections = 0;
      counted.on('connection', () => connections++);
      const port = await listen(counted);
      try {
        await throughGateway(client, 'k.test', port, async (g) => {
          for (let i = 0; i < 50; i++) {
            const r = await send(g.port, `/n/${i}`, { host: 'k.test' });
            expect(r.body).toBe('ok');
          }
          expect(connections).toBe(1);
        });
      } finally {
        await closeServer(counted);
      }
    });

    it('does not let bytes an upstream sends after a GET answer poison the next request: a new socket serves it', async () => {
      // A raw upstream: the first answer is followed, in the same write, by a whole unasked response.
      let answered = 0;
      const raw = await rawUpstream((sock) => {
        let buf = '';
        sock.on('data', (c: Buffer) => {
          buf += c.toString('latin1');
          for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
            buf = buf.slice(end + 4);
            answered++;
            const body = `answer-${answered}`;
            const garbage =
              answered === 1 ? 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npoison\r\n\x00\xffjunk' : '';
            sock.write(
              `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}${garbage}`,
              'latin1',
            );
          }
        });
      });
      try {
        await throughGateway(client, 'g.test', raw.port, async (g) => {
          const first = await send(g.port, '/one', { host: 'g.test' });
          expect(first.status).toBe(200);
          expect(first.body).toBe('answer-1');
          const second = await send(g.port, '/two', { host: 'g.test' });
          expect(second.status).toBe(200);
          expect(second.body).toBe('answer-2');
          expect(answered).toBe(2);
          expect(raw.connections()).toBe(2); // the socket that carried the garbage was not reused
        });
      } finally {
        await raw.close();
      }
    });

    it('answers 502 to an answer that cannot be framed (Content-Length and Transfer-Encoding both)', async () => {
      const raw = await rawUpstream((sock) =>
        sock.once('data', () =>
          sock.write(
            'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
          ),
        ),
      );
      try {
        await throughGateway(client, 'x.test', raw.port, async (g) => {
          const r = await send(g.port, '/', { host: 'x.test' });
          expect(r.status).toBe(502);
          // The lane names the fault; undici's parser error reads as an unreachable upstream.
          expect(JSON.parse(r.body)).toMatchObject({
            code: client === 'lane' ? 'upstream_invalid' : 'upstream_unreachable',
          });
        });
      } finally {
        await raw.close();
      }
    });
  });

  describe('upgrade', () => {
    function openUpgrade(
      port: number,
      host: string,
    ): Promise<{ res: IncomingMessage; socket: Duplex | null }> {
      return new Promise((resolve, reject) => {
        const req = http.request({
          port,
          host: '127.0.0.1',
          path: '/chat',
          agent: false,
          headers: {
            host,
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        });
        req.on('upgrade', (res: IncomingMessage, socket: Duplex) => resolve({ res, socket }));
        req.on('response', (res: IncomingMessage) => {
          res.resume();
          resolve({ res, socket: null });
        });
        req.on('error', reject);
        req.end();
      });
    }

    it('passes a WebSocket upgrade through and carries bytes both ways', async () => {
      upstream.echoUpgrades.length = 0;
      const { res, socket } = await openUpgrade(gw.port, 'a.test');
      expect(res.statusCode).toBe(101);
      expect(res.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
      expect(socket).not.toBeNull();
      const seen = upstream.echoUpgrades[0]!;
      expect(seen.upgrade).toBe('websocket');
      expect(seen['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen.host).toBe(`127.0.0.1:${upstream.port}`);
      let echoed = '';
      socket!.on('data', (c: Buffer) => {
        echoed += c.toString();
      });
      socket!.write('ping-1');
      expect(await waitFor(() => echoed === 'ping-1')).toBe(true);
      socket!.write('ping-2');
      expect(await waitFor(() => echoed === 'ping-1ping-2')).toBe(true);
      socket!.destroy();
    });

    it('answers 502 to an upgrade whose upstream is down, and 404 to one nobody routes', async () => {
      const down = await openUpgrade(gw.port, 'down.test');
      expect(down.res.statusCode).toBe(502);
      const none = await openUpgrade(gw.port, 'nobody.test');
      expect(none.res.statusCode).toBe(404);
    });
  });
});
