/**
 * The config feed gateways read (platform audience): `GET /gateway/snapshot` answers the gateways'
 * config snapshot (every tenant's services, hosts, credentials settings, mapping rules, policies) with an
 * ETag naming its version. `If-None-Match` with the current ETag answers 304; with `?wait=N` (seconds,
 * at most 30) the request is held until the version changes or N seconds pass, so distributed gateways
 * see a change within a second without polling hard.
 *
 * One watcher per database serves every held request (one config-version query every 200 ms while any
 * waits), and the snapshot of a version is built and serialised once for all gateways.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { SnapshotBuilder, snapshotVersion } from '../../gateway/loader.js';
import { tenantConfigVersions } from '../../store/sql/repo/tenants.js';
import type { DB } from '../../store/sql/schema.js';
import type { AdminRoute, JsonSchema } from '../route.js';

/** Longest a request may be held (`?wait=`), in seconds. */
export const MAX_SNAPSHOT_WAIT_S = 30;
const POLL_MS = 200;

/** The ETag of a snapshot version (a digest: versions grow with the number of tenants). */
export function snapshotEtag(version: string): string {
  return `"${createHash('sha256').update(version).digest('base64url').slice(0, 27)}"`;
}

/** The entity tags an If-None-Match header names (`*` included as is). */
function entityTags(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return ['*'];
  return [...text.matchAll(/(?:W\/)?("[^"]*")/g)].map((m) => m[1]!);
}

interface Built {
  /** The config-version key the snapshot was built at. */
  readonly key: string;
  readonly etag: string;
  /** The snapshot, serialised once. */
  readonly json: string;
}

interface Waiter {
  readonly key: string;
  readonly done: () => void;
}

/** Snapshot cache and change watcher of one database. */
class SnapshotFeed {
  private built: Built | null = null;
  private building: Promise<Built> | null = null;
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private readonly builder: SnapshotBuilder;

  constructor(private readonly db: Kysely<DB>) {
    this.builder = new SnapshotBuilder(db);
  }

  async currentKey(): Promise<string> {
    return snapshotVersion(await tenantConfigVersions(this.db));
  }

  /** The snapshot at `key` (built once, shared by concurrent callers). */
  async snapshot(key: string): Promise<Built> {
    if (this.built !== null && this.built.key === key) return this.built;
    if (this.building === null) {
      this.building = (async () => {
        const snap = await this.builder.build();
        // The key of what was read (a change may have landed between the version query and the read).
        const b = { key: snap.version, etag: snapshotEtag(snap.version), json: JSON.stringify(snap) };
        this.built = b;
        return b;
      })().finally(() => {
        this.building = null;
      });
    }
    return this.building;
  }

  /** Resolves once the version is no longer `key`, or after `ms`, or when `gone` (the caller left). */
  wait(key: string, ms: number, gone: (cb: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const w: Waiter = {
        key,
        done: () => {
          if (!this.waiters.delete(w)) return;
          clearTimeout(t);
          resolve();
        },
      };
      const t = setTimeout(w.done, ms);
      this.waiters.add(w);
      gone(w.done);
      this.arm();
    });
  }

  private arm(): void {
    if (this.timer !== undefined || this.waiters.size === 0) return;
    this.timer = setTimeout(() => {
      void this.tick();
    }, POLL_MS);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      const key = await this.currentKey();
      for (const w of [...this.waiters]) if (w.key !== key) w.done();
    } catch {
      // The database is unreachable: held requests run out their wait and answer 304.
    } finally {
      this.timer = undefined;
      this.arm();
    }
  }
}

const feeds = new WeakMap<Kysely<DB>, SnapshotFeed>();
function feedOf(db: Kysely<DB>): SnapshotFeed {
  let f = feeds.get(db);
  if (f === undefined) {
    f = new SnapshotFeed(db);
    feeds.set(db, f);
  }
  return f;
}

const OBJ: JsonSchema = { type: 'object' };
const SNAPSHOT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['version', 'services'],
  properties: {
    version: { type: 'string', description: 'tenant_id:config_version pairs, sorted' },
    services: {
      type: 'array',
      items: {
        type: 'object',
        required: [
          'id',
          'tenantId',
          'systemName',
          'state',
          'providerKey',
          'upstream',
          'hosts',
          'auth',
          'authorization',
          'gateway',
          'policies',
          'metrics',
          'mappingRules',
        ],
        properties: {
          id: { type: 'string' },
          tenantId: { type: 'string' },
          systemName: { type: 'string' },
          state: { type: 'string' },
          providerKey: { type: 'string' },
          upstream: { type: 'string' },
          hosts: { type: 'array', items: { type: 'string' } },
          auth: OBJ,
          authorization: OBJ,
          gateway: OBJ,
          policies: { type: 'array', items: OBJ },
          metrics: { type: 'array', items: OBJ },
          mappingRules: { type: 'array', items: OBJ },
        },
      },
    },
  },
};

function send(reply: FastifyReply, b: Built): string {
  reply.header('etag', b.etag);
  reply.header('cache-control', 'no-store');
  reply.type('application/json; charset=utf-8');
  return b.json;
}

function notModified(reply: FastifyReply, etag: string): FastifyReply {
  return reply.code(304).header('etag', etag).header('cache-control', 'no-store').send();
}

export const getGatewaySnapshot: AdminRoute = {
  method: 'GET',
  path: '/gateway/snapshot',
  operationId: 'getGatewaySnapshot',
  summary:
    "The gateways' config snapshot (ETag = its version). If-None-Match with the current ETag answers 304; " +
    '?wait=N holds that request up to N seconds (max 30) until the version changes',
  tags: ['gateway'],
  scope: 'management',
  write: false,
  audience: 'platform',
  query: {
    type: 'object',
    properties: { wait: { type: 'integer', minimum: 0, maximum: MAX_SNAPSHOT_WAIT_S, default: 0 } },
    additionalProperties: false,
  },
  response: { status: 200, schema: SNAPSHOT_SCHEMA },
  async handler(ctx, _principal, req: FastifyRequest, reply) {
    const feed = feedOf(ctx.db);
    const { wait } = req.query as { wait: number };
    const known = entityTags(req.headers['if-none-match']);
    let key = await feed.currentKey();
    if (known.length === 0) return send(reply, await feed.snapshot(key));
    const matches = (k: string) => known.includes('*') || known.includes(snapshotEtag(k));
    if (matches(key) && wait > 0) {
      const server = req.server.server;
      await feed.wait(key, wait * 1000, (done) => {
        // The caller left, or the server is closing (held requests must not hold its shutdown).
        const check = setInterval(() => {
          if (!server.listening) done();
        }, POLL_MS);
        check.unref();
        reply.raw.once('close', () => {
          clearInterval(check);
          done();
        });
        reply.raw.once('finish', () => clearInterval(check));
      });
      key = await feed.currentKey();
      // Closing: make the gateway reconnect (to another admin process, or find this one gone) rather than
      // reuse this connection while the server drains.
      if (!server.listening) reply.header('connection', 'close');
    }
    if (matches(key)) return notModified(reply, snapshotEtag(key));
    return send(reply, await feed.snapshot(key));
  },
};
