/**
 * Redis auth view: the distributed projection every gateway and backend process reads. Guarantees: a
 * tenant's sync or delete is one MULTI/EXEC (readers see the old or the new tenant, never a mix), guarded
 * by WATCH on the tenant's index so concurrent syncs from several processes cannot leave stale entries;
 * each write publishes the tenant id on `<prefix>authview:changes`, and `onChange` listeners of every
 * instance (every process) run when the message arrives. Secrets are keyed by SHA-256 digest only.
 */
import type { AppView, PlanView, ServiceView, TenantSnapshot, TenantView } from '../../domain/model.js';
import { sha256 } from '../digest.js';
import type { AuthView } from '../ports.js';
import { prefixOf, quietErrors, quitQuietly, type Redis } from '../redis.js';

/** Components are URI-encoded so a `:` inside an id can never make two keys collide. */
const part = encodeURIComponent;

/** Relative key names (the connection adds the deployment's prefix). */
const K = {
  tenant: (providerKeyDigest: string) => `av:pk:${providerKeyDigest}`,
  token: (serviceId: string, tokenDigest: string) => `av:tok:${part(serviceId)}:${tokenDigest}`,
  service: (serviceId: string) => `av:svc:${part(serviceId)}`,
  plan: (serviceId: string, planId: string) => `av:plan:${part(serviceId)}:${part(planId)}`,
  app: (serviceId: string, appId: string) => `av:app:${part(serviceId)}:${part(appId)}`,
  userKey: (serviceId: string, userKeyDigest: string) => `av:uk:${part(serviceId)}:${userKeyDigest}`,
  /** The set of every key written for a tenant: what its next sync or delete removes. */
  index: (tenantId: string) => `av:tenant:${part(tenantId)}`,
};

/** A WATCH conflict means another process wrote the same tenant meanwhile: re-read and retry. */
const MAX_ATTEMPTS = 10;

/** The entries a snapshot projects to, keyed by relative key (the same layout as MemoryAuthView). */
function entriesOf(s: TenantSnapshot): Map<string, string> {
  const m = new Map<string, string>();
  m.set(K.tenant(sha256(s.tenant.providerKey)), JSON.stringify(s.tenant));
  for (const t of s.serviceTokens) m.set(K.token(t.serviceId, t.tokenDigest), s.tenant.providerKey);
  for (const svc of s.services) m.set(K.service(svc.id), JSON.stringify(svc));
  for (const p of s.plans) m.set(K.plan(p.serviceId, p.id), JSON.stringify(p));
  for (const a of s.apps) {
    m.set(K.app(a.serviceId, a.id), JSON.stringify(a));
    if (a.userKey !== null) m.set(K.userKey(a.serviceId, sha256(a.userKey)), a.id);
  }
  return m;
}

export class RedisAuthView implements AuthView {
  private readonly listeners = new Set<(tenantId: string) => void>();
  /** This instance's writes run one at a time: WATCH is per connection, and the connection is shared. */
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly client: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
  ) {
    subscriber.on('message', (ch: string, tenantId: string) => {
      if (ch === this.channel) for (const l of this.listeners) l(tenantId);
    });
  }

  /**
   * Takes ownership of `client` (close() quits it) and subscribes to the change channel on a duplicate
   * connection before returning, so no change published afterwards is missed.
   */
  static async open(client: Redis): Promise<RedisAuthView> {
    const channel = `${prefixOf(client)}authview:changes`;
    const subscriber = quietErrors(client.duplicate());
    try {
      await subscriber.subscribe(channel);
    } catch (err) {
      subscriber.disconnect();
      throw err;
    }
    return new RedisAuthView(client, subscriber, channel);
  }

  async tenantByProviderKey(providerKey: string): Promise<TenantView | null> {
    return this.json<TenantView>(K.tenant(sha256(providerKey)));
  }

  async providerKeyForServiceToken(token: string, serviceId: string): Promise<string | null> {
    return this.client.get(K.token(serviceId, sha256(token)));
  }

  async service(serviceId: string): Promise<ServiceView | null> {
    return this.json<ServiceView>(K.service(serviceId));
  }

  async plan(serviceId: string, planId: string): Promise<PlanView | null> {
    return this.json<PlanView>(K.plan(serviceId, planId));
  }

  async application(serviceId: string, appId: string): Promise<AppView | null> {
    return this.json<AppView>(K.app(serviceId, appId));
  }

  async appIdByUserKey(serviceId: string, userKey: string): Promise<string | null> {
    return this.client.get(K.userKey(serviceId, sha256(userKey)));
  }

  syncTenant(snapshot: TenantSnapshot): Promise<void> {
    return this.write(snapshot.tenant.id, entriesOf(snapshot));
  }

  deleteTenant(tenantId: string): Promise<void> {
    return this.write(tenantId, new Map());
  }

  onChange(listener: (tenantId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.writes.catch(() => undefined);
    this.subscriber.disconnect();
    await quitQuietly(this.client);
  }

  private async json<T>(key: string): Promise<T | null> {
    const raw = await this.client.get(key);
    return raw === null ? null : (JSON.parse(raw) as T);
  }

  /** Replaces the tenant's entries with `entries` (empty: deletes the tenant) and publishes the change. */
  private write(tenantId: string, entries: Map<string, string>): Promise<void> {
    const run = this.writes.then(
      () => this.replace(tenantId, entries),
      () => this.replace(tenantId, entries),
    );
    this.writes = run.catch(() => undefined);
    return run;
  }

  private async replace(tenantId: string, entries: Map<string, string>): Promise<void> {
    const index = K.index(tenantId);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await this.client.watch(index);
      let old: string[];
      try {
        old = await this.client.smembers(index);
      } catch (err) {
        await this.client.unwatch();
        throw err;
      }
      const tx = this.client.multi();
      const stale = old.filter((k) => !entries.has(k));
      if (stale.length > 0) tx.del(...stale);
      tx.del(index);
      for (const [k, v] of entries) tx.set(k, v);
      if (entries.size > 0) tx.sadd(index, ...entries.keys());
      tx.publish(this.channel, tenantId);
      const result = await tx.exec();
      if (result === null) continue; // another process changed the tenant between WATCH and EXEC
      const failed = result.find(([err]) => err !== null);
      if (failed?.[0]) throw failed[0];
      return;
    }
    throw new Error(`auth view: tenant ${tenantId} kept changing during sync; gave up`);
  }
}
