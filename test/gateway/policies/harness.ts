/**
 * A gateway in this process over real sockets: config applied to a real SQLite store, projected into a
 * memory auth view, strict authorization with real counters, the real proxy, the runtime on a node:http
 * server on port 0, and echoing upstreams. Access-log lines are collected from a real pino logger.
 */
import { once } from 'node:events';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { syncAuthView } from '../../../src/admin/projection.js';
import { UsageQueue } from '../../../src/backend/usage-queue.js';
import { applyConfig } from '../../../src/config/apply.js';
import { createAuthorizers } from '../../../src/gateway/authz/index.js';
import { loadGatewayConfig } from '../../../src/gateway/loader.js';
import { createPolicyEnv, type PolicyEnv } from '../../../src/gateway/policies/env.js';
import { createProxy, type ProxyTimeouts } from '../../../src/gateway/proxy.js';
import { createGatewayRuntime, type GatewayRuntime } from '../../../src/gateway/runtime.js';
import { MemoryAuthView } from '../../../src/store/authview/memory.js';
import { MemoryCounterStore } from '../../../src/store/counters/memory.js';
import type { SqlStore } from '../../../src/store/sql/db.js';
import { SqlErrorLog } from '../../../src/store/sql/error-log.js';
import { SqlUsageLog } from '../../../src/store/usagelog/sql.js';
import { sqlCases } from '../../config/sql-cases.js';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: the echo's JSON is read field by field
  json: () => any;
}

/** What the echo upstream saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyLength: number;
  upstream: string;
}

async function listen(server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * An upstream that echoes what it saw as JSON, plus test paths:
 * `/status/N` answers N; `/flaky/KEY?fail=N` answers 503 to the first N hits of KEY; `/drop/KEY?fail=N`
 * closes the connection on the first N hits; `/slow?ms=N` answers after N ms (`/slowonce/KEY?ms=N` only
 * the first time); `/big?bytes=N` streams N
 * bytes without Content-Length; `/sized?bytes=N` sends N bytes with it.
 */
export class Upstream {
  readonly server: http.Server;
  port = 0;
  readonly hits = new Map<string, number>();
  readonly seen: Seen[] = [];

  constructor(readonly name: string) {
    this.server = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
      });
      req.on('end', () => this.answer(req, res, n));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port = await listen(this.server);
    return this;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private hit(key: string): number {
    const n = (this.hits.get(key) ?? 0) + 1;
    this.hits.set(key, n);
    return n;
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, bodyLength: number): void {
    const u = new URL(req.url ?? '/', 'http://x');
    const seen: Seen = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      bodyLength,
      upstream: this.name,
    };
    this.seen.push(seen);
    const parts = u.pathname.split('/');
    const fail = Number(u.searchParams.get('fail') ?? '0');
    const echo = (status = 200, extra: Record<string, string> = {}) => {
      const body = JSON.stringify(seen);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-upstream': this.name,
        'access-control-allow-origin': 'https://upstream-says.example',
        ...extra,
      });
      res.end(body);
    };
    if (parts[1] === 'status') {
      echo(Number(parts[2]));
      return;
    }
    if (parts[1] === 'flaky') {
      if (this.hit(u.pathname) <= fail) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('try again');
      } else echo();
      return;
    }
    if (parts[1] === 'drop') {
      if (this.hit(u.pathname) <= fail) req.socket.destroy();
      else echo();
      return;
    }
    if (parts[1] === 'slowonce') {
      const first = this.hit(u.pathname) === 1;
      setTimeout(() => echo(), first ? Number(u.searchParams.get('ms') ?? '1000') : 0);
      return;
    }
    if (parts[1] === 'slow') {
      setTimeout(() => echo(), Number(u.searchParams.get('ms') ?? '1000'));
      return;
    }
    if (parts[1] === 'big' || parts[1] === 'sized') {
      const bytes = Number(u.searchParams.get('bytes') ?? '0');
      res.writeHead(
        200,
        parts[1] === 'sized'
          ? { 'content-type': 'application/octet-stream', 'content-length': bytes }
          : { 'content-type': 'application/octet-stream' },
      );
      const chunk = Buffer.alloc(Math.min(bytes, 16_384), 'x');
      let left = bytes;
      const pump = () => {
        while (left > 0) {
          const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= c.length;
          if (!res.write(c)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    echo();
  }
}

export interface Gateway {
  readonly port: number;
  readonly runtime: GatewayRuntime;
  readonly env: PolicyEnv;
  readonly store: SqlStore;
  /** Access-log (and other) JSON lines the gateway's logger wrote. */
  readonly logs: Record<string, unknown>[];
  /** Applies another document and installs the new config version. */
  apply(doc: unknown): Promise<void>;
  send(
    path: string,
    opts?: { host?: string; method?: string; headers?: Record<string, string>; body?: string | Buffer },
  ): Promise<Reply>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly timeouts?: Partial<ProxyTimeouts>;
  readonly redis?: { readonly url: string; readonly keyPrefix: string };
  /** Share another gateway's SQL store (a second gateway process in the same deployment). */
  readonly store?: SqlStore;
}

export async function startGateway(doc: unknown, opts: GatewayOptions = {}): Promise<Gateway> {
  let store: SqlStore;
  let dispose: () => Promise<void> = async () => {};
  if (opts.store !== undefined) store = opts.store;
  else {
    ({ store, dispose } = await sqlCases[0]!.open());
    await applyConfig(store.db, doc);
  }
  const view = new MemoryAuthView();
  await syncAuthView(store.db, view);
  const counters = await MemoryCounterStore.open();
  const usageLog = new SqlUsageLog(store.db);
  const deps = {
    authView: view,
    counters,
    usageLog,
    errorLog: new SqlErrorLog(store.db),
    clock: Date.now,
    version: 'test',
  };
  const authorizers = createAuthorizers({ deps });
  const proxy = createProxy({
    timeouts: { connectMs: 2000, headersMs: 5000, bodyMs: 5000, ...opts.timeouts },
  });
  const usage = new UsageQueue(usageLog);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line));
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const env = createPolicyEnv({ logger, redis: opts.redis ?? null });
  const runtime = createGatewayRuntime({
    authorizers,
    proxy,
    usage,
    config: await loadGatewayConfig(store.db),
    policies: env,
  });
  const server = http.createServer(runtime.request);
  server.on('upgrade', runtime.upgrade);
  const port = await listen(server);
  return {
    port,
    runtime,
    env,
    store,
    logs,
    async apply(next) {
      await applyConfig(store.db, next);
      await syncAuthView(store.db, view);
      runtime.load(await loadGatewayConfig(store.db));
    },
    send(path, o = {}) {
      return new Promise((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port,
          path,
          method: o.method ?? (o.body !== undefined ? 'POST' : 'GET'),
          headers: { host: o.host ?? 'api.test', ...o.headers },
          agent: false,
        });
        req.on('error', reject);
        req.on('response', (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const body = Buffer.concat(parts).toString();
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body,
              json: () => JSON.parse(body),
            });
          });
        });
        req.end(o.body);
      });
    },
    async close() {
      await closeServer(server);
      await proxy.close();
      await authorizers.close();
      await env.close();
      await counters.close();
      await dispose();
    },
  };
}

/** A service of the test tenant: user_key auth, every path counted on `hits`, a generous plan. */
export function service(
  id: string,
  host: string,
  upstream: string,
  policies: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id,
    system_name: `s${id}`,
    upstream,
    hosts: [host],
    auth: { mode: 'user_key' },
    metrics: [{ system_name: 'hits' }],
    mapping_rules: [{ method: 'ANY', pattern: '/', metric: 'hits' }],
    plans: [{ system_name: 'basic', limits: { hits: { day: 1_000_000 } } }],
    policies,
    ...extra,
  };
}

/** A document with the given services; each gets an application with user_key `key-<id>`. */
export function docOf(services: Record<string, unknown>[], tenant = 'pol'): unknown {
  return {
    version: 1,
    tenants: [
      {
        name: tenant,
        provider_key: `${tenant}-provider-key`,
        services,
        accounts: [
          {
            name: 'Dev',
            applications: services.map((s) => ({
              name: `App ${s.id}`,
              service: s.system_name,
              plan: 'basic',
              user_key: `key-${s.id}`,
            })),
          },
        ],
      },
    ],
  };
}
