// The gateway's config feed against a stand-in control plane on a real socket: long-polled snapshots,
// a malformed or uncompilable snapshot never replaces the good one, an unreachable control plane leaves
// the last good config in service, and a restarted gateway starts from the snapshot it saved on disk.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneSnapshotSource, GatewayConfigFeed } from '../../src/gateway/loader.js';
import type { GatewayConfig } from '../../src/gateway/service.js';
import { createLogger } from '../../src/obs/logger.js';

const TOKEN = 'a-platform-token-of-24-chars-or-more';

const service = (id: string, host: string, upstream = 'http://127.0.0.1:1') => ({
  id,
  tenantId: 't1',
  systemName: `svc${id}`,
  state: 'active',
  providerKey: 'pk',
  upstream,
  hosts: [host],
  auth: { mode: 'user_key', location: 'query', param: 'user_key' },
  authorization: { mode: 'strict', on_store_failure: 'deny' },
  gateway: {},
  policies: [],
  metrics: [{ id: 'm1', systemName: 'hits' }],
  mappingRules: [{ method: 'GET', pattern: '/', metricId: 'm1', delta: 1, last: false }],
});

/** A control plane stand-in: serves `body` with ETag `"<etag>"`, holds If-None-Match requests with ?wait. */
class FakeControlPlane {
  body = '';
  etag = '';
  requests = 0;
  private held: http.ServerResponse[] = [];
  readonly server = http.createServer((req, res) => {
    this.requests++;
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(403, { 'content-type': 'application/problem+json' });
      res.end('{"code":"forbidden"}');
      return;
    }
    const wait = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('wait') ?? 0);
    if (req.headers['if-none-match'] === `"${this.etag}"`) {
      if (wait === 0) {
        res.writeHead(304).end();
        return;
      }
      this.held.push(res);
      setTimeout(() => {
        if (this.held.includes(res)) {
          this.held = this.held.filter((r) => r !== res);
          res.writeHead(304).end();
        }
      }, wait * 1000).unref();
      return;
    }
    this.answer(res);
  });

  private answer(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${this.etag}"` });
    res.end(this.body);
  }

  set(etag: string, body: unknown): void {
    this.etag = etag;
    this.body = typeof body === 'string' ? body : JSON.stringify(body);
    const held = this.held;
    this.held = [];
    for (const res of held) this.answer(res);
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.held = [];
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('gateway config feed from the control plane', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-feed-'));
  const persistPath = join(dir, 'state', 'gateway-snapshot.json');
  const logger = createLogger('silent');
  const cp = new FakeControlPlane();
  let url = '';
  const feeds: GatewayConfigFeed[] = [];
  const open = (token = TOKEN) => {
    const f = new GatewayConfigFeed({
      source: new ControlPlaneSnapshotSource(url, token, { waitS: 2 }),
      logger,
      persistPath,
      retryMinMs: 20,
      retryMaxMs: 100,
    });
    feeds.push(f);
    return f;
  };

  beforeAll(async () => {
    url = `${await cp.listen()}/admin/api/`;
  });
  afterAll(async () => {
    for (const f of feeds) await f.stop();
    await cp.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs new versions, keeps the good one over bad ones, and survives the control plane going away', async () => {
    cp.set('v1', { version: 't1:1', services: [service('1', 'a.test')] });
    const feed = open();
    const first = await feed.init();
    expect(first?.router.match('a.test', '/')?.id).toBe('1');
    const installed: GatewayConfig[] = [];
    feed.start((c) => installed.push(c));

    cp.set('v2', { version: 't1:2', services: [service('1', 'a.test'), service('2', 'b.test')] });
    await until('v2 installed', () => installed.length === 1);
    expect(installed[0]!.router.match('b.test', '/')?.id).toBe('2');
    expect(feed.version).toBe('t1:2');

    // One service that cannot be routed (an ftp upstream) is left out; the others are installed.
    cp.set('v3', {
      version: 't1:3',
      services: [service('1', 'a.test'), service('2', 'b.test'), service('3', 'c.test', 'ftp://127.0.0.1')],
    });
    await until('v3 installed', () => installed.length === 2);
    expect(installed[1]!.skipped.map((x) => x.serviceId)).toEqual(['3']);
    expect(installed[1]!.router.match('c.test', '/')).toBeNull();
    expect(installed[1]!.router.match('b.test', '/')?.id).toBe('2');
    // Malformed snapshots are refused whole.
    cp.set('v4', { version: 't1:4', services: [{ id: '4' }] });
    await until('v4 refused', () => feed.failures === 1);
    cp.set('v5', { version: 5 });
    await until('v5 refused', () => feed.failures === 2);
    expect(installed).toHaveLength(2);
    expect(feed.version).toBe('t1:3');
    expect(feed.config?.router.match('b.test', '/')?.id).toBe('2');
    // …and a bad version is not fetched over and over: the feed waits for the next one.
    const asked = cp.requests;
    await new Promise((r) => setTimeout(r, 300));
    expect(cp.requests - asked).toBeLessThanOrEqual(1);

    cp.set('v6', { version: 't1:6', services: [service('6', 'd.test')] });
    await until('v6 installed', () => installed.length === 3);
    expect(feed.config?.router.match('d.test', '/')?.id).toBe('6');
    expect(feed.sourceUp).toBe(true);
    expect(feed.reloads).toBe(3);
    // The last good snapshot is on disk, readable by its owner only.
    await until('snapshot saved', () => {
      try {
        return statSync(persistPath).size > 0;
      } catch {
        return false;
      }
    });
    expect(statSync(persistPath).mode & 0o077).toBe(0);

    // The control plane goes away: the feed notices, keeps serving v6, and retries.
    await cp.close();
    await until('outage noticed', () => !feed.sourceUp);
    expect(feed.config?.router.match('d.test', '/')?.id).toBe('6');
    expect(installed).toHaveLength(3);
  });

  it('a gateway started while the control plane is down serves the snapshot it saved', async () => {
    const feed = open();
    const config = await feed.init(1000);
    expect(feed.sourceUp).toBe(false);
    expect(config?.version).toBe('t1:6');
    expect(config?.router.match('d.test', '/')?.id).toBe('6');
  });

  it('with no saved snapshot and no control plane, starts with no config (and says so)', async () => {
    rmSync(persistPath, { force: true });
    const feed = open();
    expect(await feed.init(1000)).toBeNull();
    expect(feed.config).toBeNull();
  });
});
