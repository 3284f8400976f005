/**
 * Keeps a gateway's config current. The config comes as versioned snapshots (snapshot.ts) from one of two
 * sources behind one interface:
 *
 * - `SqlSnapshotSource`: built in process from the control plane's SQL (the embedded gateway, or one with
 *   direct SQL access and no control-plane URL); polls the tenants' config versions every 250 ms.
 * - `ControlPlaneSnapshotSource`: fetched from the control plane's admin API
 *   (`GET /admin/api/gateway/snapshot`, platform token), long-polling with `If-None-Match` so a change
 *   arrives within a second without polling hard.
 *
 * `GatewayConfigFeed` compiles each new snapshot off to the side and hands it to `install` (the runtime
 * swaps it atomically). A snapshot that is malformed or does not compile is logged and counted, and the
 * last good config stays. When the source cannot be reached the gateway keeps serving, retries with
 * backoff and logs once per outage. With `persistPath`, the last good snapshot from the control plane is
 * kept on disk, so a gateway restarted while the control plane is down still serves.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Kysely } from 'kysely';
import { request } from 'undici';
import type { Logger } from '../obs/logger.js';
import { loadCatalogState } from '../store/sql/repo/catalog.js';
import { loadTenantState } from '../store/sql/repo/state.js';
import { listTenants, tenantConfigVersions } from '../store/sql/repo/tenants.js';
import type { DB } from '../store/sql/schema.js';
import type { ConfigVersionWatch } from '../store/sql/version-watch.js';
import type { ConfigFeedStats } from './metrics.js';
import { compileGatewayConfig, type GatewayConfig } from './service.js';
import { buildSnapshot, type GatewaySnapshot, type SnapshotTenant } from './snapshot.js';

/** The gateways' config snapshot, from SQL. */
export async function loadGatewaySnapshot(db: Kysely<DB>): Promise<GatewaySnapshot> {
  return new SnapshotBuilder(db).build();
}

/**
 * Builds snapshots from SQL, re-reading only the tenants whose config version changed since its last build
 * (a tenant's state is read whole, applications included: with many tenants, one change must not cost
 * reading them all).
 */
export class SnapshotBuilder {
  private readonly tenants = new Map<string, { version: number; services: GatewaySnapshot['services'] }>();

  constructor(private readonly db: Kysely<DB>) {}

  async build(): Promise<GatewaySnapshot> {
    // Versions first: a change landing while tenants are read is picked up by the next build.
    const versions = await tenantConfigVersions(this.db);
    for (const id of [...this.tenants.keys()]) if (!versions.has(id)) this.tenants.delete(id);
    const pairs: string[] = [];
    const services: GatewaySnapshot['services'][number][] = [];
    for (const t of await listTenants(this.db)) {
      const version = versions.get(t.id) ?? 0;
      let cached = this.tenants.get(t.id);
      if (cached === undefined || cached.version !== version) {
        const state = await loadTenantState(this.db, t.id);
        if (!state) continue;
        const cat = await loadCatalogState(this.db, t.id);
        const one: SnapshotTenant = { state, policies: cat.policies, version };
        cached = { version, services: buildSnapshot([one]).services };
        this.tenants.set(t.id, cached);
      }
      pairs.push(`${t.id}:${version}`);
      services.push(...cached.services);
    }
    return { version: pairs.sort().join(','), services };
  }
}

export async function loadGatewayConfig(db: Kysely<DB>): Promise<GatewayConfig> {
  return compileGatewayConfig(await loadGatewaySnapshot(db));
}

/** The snapshot version of a set of tenant config versions (the format `buildSnapshot` gives). */
export function snapshotVersion(versions: ReadonlyMap<string, number>): string {
  return [...versions]
    .map(([id, v]) => `${id}:${v}`)
    .sort()
    .join(',');
}

/** Where snapshots come from. */
export interface SnapshotSource {
  /** `sql` (in process) or `control_plane` (over HTTP). */
  readonly kind: 'sql' | 'control_plane';
  /**
   * The next snapshot (raw, unchecked) whose version differs from the last one this source returned, or
   * null when none came within the source's wait. The first call answers at once. Throws when the source
   * cannot be reached (or refuses the gateway).
   */
  next(signal: AbortSignal): Promise<unknown | null>;
}

/**
 * Snapshots from SQL, in process: follows the tenants' config versions through the process's
 * ConfigVersionWatch (one poll for every part of the process that follows them).
 */
export class SqlSnapshotSource implements SnapshotSource {
  readonly kind = 'sql';
  private last: string | null = null;
  private readonly builder: SnapshotBuilder;

  constructor(
    db: Kysely<DB>,
    private readonly watch: ConfigVersionWatch,
    private readonly opts: { readonly waitMs?: number } = {},
  ) {
    this.builder = new SnapshotBuilder(db);
  }

  async next(signal: AbortSignal): Promise<GatewaySnapshot | null> {
    const until = performance.now() + (this.opts.waitMs ?? 5000);
    // The first read is direct: a database that fails throws here, and the feed notes the outage.
    let versions: ReadonlyMap<string, number> | null = await this.watch.read();
    while (versions !== null) {
      const key = snapshotVersion(versions);
      if (key !== this.last) {
        const snapshot = await this.builder.build();
        this.last = key;
        return snapshot;
      }
      const left = until - performance.now();
      versions = left > 0 && !signal.aborted ? await this.watch.next(left, signal) : null;
    }
    return null;
  }
}

/** The control plane refused or failed a snapshot request. */
export class ControlPlaneError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ControlPlaneError';
  }
}

/** Snapshots from the control plane's admin API, long-polled. */
export class ControlPlaneSnapshotSource implements SnapshotSource {
  readonly kind = 'control_plane';
  private readonly url: string;
  private etag: string | null = null;
  private readonly waitS: number;

  /**
   * `baseUrl`: the admin API's address (`http://admin:3000`, with or without `/admin/api`); `token`: a
   * platform token. `waitS` is the long-poll wait (1-30 s, default 25).
   */
  constructor(
    baseUrl: string,
    private readonly token: string,
    opts: { readonly waitS?: number } = {},
  ) {
    const base = baseUrl.replace(/\/+$/, '').replace(/\/admin\/api$/, '');
    this.url = `${base}/admin/api/gateway/snapshot`;
    this.waitS = Math.max(0, Math.min(30, opts.waitS ?? 25));
  }

  async next(signal: AbortSignal): Promise<unknown | null> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: 'application/json',
    };
    let url = this.url;
    if (this.etag !== null) {
      headers['if-none-match'] = this.etag;
      if (this.waitS > 0) url += `?wait=${this.waitS}`;
    }
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers,
        signal,
        headersTimeout: (this.waitS + 10) * 1000,
        bodyTimeout: 30_000,
      });
    } catch (err) {
      throw new ControlPlaneError(`control plane unreachable: ${(err as Error).message}`);
    }
    if (res.statusCode === 304) {
      await res.body.dump();
      return null;
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text().catch(() => '');
      let code = '';
      try {
        code = String((JSON.parse(text) as { code?: unknown }).code ?? '');
      } catch {
        // not a problem+json body
      }
      throw new ControlPlaneError(
        `control plane answered ${res.statusCode}${code ? ` (${code})` : ''}`,
        res.statusCode,
      );
    }
    let body: unknown;
    try {
      body = await res.body.json();
    } catch (err) {
      throw new ControlPlaneError(`control plane sent a body that is not JSON: ${(err as Error).message}`);
    } finally {
      // Even a malformed snapshot moves us on: the next request waits for the version after it.
      const etag = res.headers.etag;
      this.etag = typeof etag === 'string' ? etag : null;
    }
    return body;
  }
}

/** Throws unless `x` has the shape of a GatewaySnapshot (what compileGatewayConfig relies on). */
export function checkSnapshot(x: unknown): GatewaySnapshot {
  const bad = (what: string): never => {
    throw new Error(`malformed gateway snapshot: ${what}`);
  };
  if (typeof x !== 'object' || x === null) return bad('not an object');
  const s = x as Record<string, unknown>;
  if (typeof s.version !== 'string') bad('version is not a string');
  if (!Array.isArray(s.services)) return bad('services is not a list');
  for (const [i, v] of s.services.entries()) {
    if (typeof v !== 'object' || v === null) bad(`services[${i}] is not an object`);
    const svc = v as Record<string, unknown>;
    for (const k of ['id', 'tenantId', 'systemName', 'state', 'providerKey', 'upstream'])
      if (typeof svc[k] !== 'string') bad(`services[${i}].${k} is not a string`);
    for (const k of ['hosts', 'policies', 'metrics', 'mappingRules'])
      if (!Array.isArray(svc[k])) bad(`services[${i}].${k} is not a list`);
    for (const k of ['auth', 'authorization', 'gateway'])
      if (typeof svc[k] !== 'object' || svc[k] === null) bad(`services[${i}].${k} is not an object`);
  }
  return x as GatewaySnapshot;
}

export interface ConfigFeedOptions {
  readonly source: SnapshotSource;
  readonly logger: Logger;
  /** Keep the last good snapshot here (control-plane source), and start from it when the source is down. */
  readonly persistPath?: string;
  /** Backoff after a failed fetch: first and longest wait (default 250 ms and 5 s). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly clock?: () => number;
}

/** A gateway's config feed: the first config, then every new version, each compiled before it is served. */
export class GatewayConfigFeed implements ConfigFeedStats {
  readonly source: string;
  version: string | null = null;
  loadedAt = 0;
  services = 0;
  reloads = 0;
  failures = 0;
  sourceUp = true;
  /** The config served, or null before the first one. */
  config: GatewayConfig | null = null;

  private readonly src: SnapshotSource;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly abort = new AbortController();
  private install: ((config: GatewayConfig) => void) | null = null;
  private loop: Promise<void> | null = null;
  private backoffMs: number;
  private outageSince = 0;
  private persisting: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ConfigFeedOptions) {
    this.src = opts.source;
    this.source = opts.source.kind;
    this.logger = opts.logger;
    this.clock = opts.clock ?? Date.now;
    this.backoffMs = opts.retryMinMs ?? 250;
  }

  /**
   * Loads the first config: from the source, else (the source is down) from the persisted snapshot.
   * Resolves with it, or null when neither gave one (the gateway then serves nothing until the source
   * answers). A snapshot that does not compile at start throws (a start should fail loudly).
   */
  async init(timeoutMs = 10_000): Promise<GatewayConfig | null> {
    const t = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([t, this.abort.signal]);
    try {
      const raw = await this.src.next(signal);
      this.up();
      if (raw !== null) {
        const snapshot = checkSnapshot(raw);
        this.accept(snapshot, compileGatewayConfig(snapshot));
        return this.config;
      }
    } catch (err) {
      if (!(err instanceof ControlPlaneError) && !t.aborted) {
        if (this.src.kind === 'sql') throw err;
        this.failures++;
        this.logger.error({ err }, 'gateway config from the control plane not installed');
      } else this.down(err);
    }
    const saved = await this.readPersisted();
    if (saved !== null) {
      this.accept(saved.snapshot, saved.config, false);
      this.logger.warn(
        { version: saved.snapshot.version, file: this.opts.persistPath },
        'serving the last good gateway config saved on disk until the control plane answers',
      );
      return this.config;
    }
    this.logger.error('no gateway config yet: answering no_route until the control plane answers');
    return null;
  }

  /** Starts watching for new versions; each compiled config goes to `install`. */
  start(install: (config: GatewayConfig) => void): void {
    this.install = install;
    this.loop ??= this.watch();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => undefined);
    await this.persisting;
  }

  private async watch(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let raw: unknown;
      try {
        raw = await this.src.next(signal);
        this.up();
      } catch (err) {
        if (signal.aborted) return;
        this.down(err);
        await sleep(this.backoffMs, signal);
        this.backoffMs = Math.min(this.opts.retryMaxMs ?? 5000, this.backoffMs * 2);
        continue;
      }
      if (raw === null) continue;
      let snapshot: GatewaySnapshot;
      let config: GatewayConfig;
      try {
        snapshot = checkSnapshot(raw);
        if (snapshot.version === this.version && this.config !== null) continue;
        config = compileGatewayConfig(snapshot);
      } catch (err) {
        this.failures++;
        this.logger.error({ err }, 'gateway config not installed; keeping the last good one');
        continue;
      }
      this.accept(snapshot, config);
      this.install?.(config);
      this.logger.info({ services: config.services.size, source: this.source }, 'gateway config reloaded');
    }
  }

  private accept(snapshot: GatewaySnapshot, config: GatewayConfig, persist = true): void {
    if (this.config !== null) this.reloads++;
    this.config = config;
    this.version = snapshot.version;
    this.services = config.services.size;
    this.loadedAt = this.clock();
    for (const x of config.skipped) {
      this.logger.error(
        { service: x.serviceId, reason: x.reason },
        'gateway service left out of this config version',
      );
    }
    if (persist && this.opts.persistPath !== undefined) this.persist(snapshot);
  }

  private up(): void {
    this.sourceUp = true;
    this.backoffMs = this.opts.retryMinMs ?? 250;
    if (this.outageSince !== 0) {
      this.logger.info(
        { source: this.source, downMs: this.clock() - this.outageSince },
        'gateway config source reachable again',
      );
      this.outageSince = 0;
    }
  }

  /** Logs once per outage; the gateway keeps serving what it has. */
  private down(err: unknown): void {
    this.sourceUp = false;
    if (this.outageSince !== 0) return;
    this.outageSince = this.clock();
    this.logger.warn(
      { err, source: this.source, version: this.version },
      'gateway config source unreachable: serving the last good config, retrying',
    );
  }

  private persist(snapshot: GatewaySnapshot): void {
    const path = this.opts.persistPath as string;
    this.persisting = this.persisting.then(async () => {
      try {
        await mkdir(dirname(path), { recursive: true });
        const tmp = `${path}.${process.pid}.tmp`;
        // It holds provider keys and remote backend credentials: owner-only.
        await writeFile(tmp, JSON.stringify(snapshot), { mode: 0o600 });
        await rename(tmp, path);
      } catch (err) {
        this.logger.warn({ err, file: path }, 'could not save the gateway config snapshot');
      }
    });
  }

  private async readPersisted(): Promise<{ snapshot: GatewaySnapshot; config: GatewayConfig } | null> {
    const path = this.opts.persistPath;
    if (path === undefined) return null;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return null;
    }
    try {
      const snapshot = checkSnapshot(JSON.parse(text));
      return { snapshot, config: compileGatewayConfig(snapshot) };
    } catch (err) {
      this.logger.warn({ err, file: path }, 'the saved gateway config snapshot is not usable');
      return null;
    }
  }
}

/** The empty config: no services (every request answers no_route). */
export function emptyGatewayConfig(): GatewayConfig {
  return compileGatewayConfig({ version: '', services: [] });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
