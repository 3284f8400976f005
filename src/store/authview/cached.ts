/**
 * Per-process read cache over any auth view. Guarantees: a hit is at most `ttlMs` old; any change the
 * inner view reports (`onChange`, from any process for Redis) or any write made through this cache
 * empties it, so a change is visible as soon as the change feed delivers it; misses and negative results
 * ("no such key") are cached alike; concurrent identical misses share one inner lookup; a lookup that
 * started before an invalidation never fills the cache afterwards. Errors are never cached.
 */

import type { AppView, PlanView, ServiceView, TenantSnapshot, TenantView } from '../../domain/model.js';
import { lookupDigest } from '../digest.js';
import type { AuthView, AuthViewPeek } from '../ports.js';

export interface CachedAuthViewOptions {
  /** Most entries kept; the least recently used goes first. */
  readonly maxEntries: number;
  /** Longest an entry is served; bounds staleness if a change message is ever lost. */
  readonly ttlMs: number;
  readonly clock?: () => number;
}

interface Entry {
  readonly value: unknown;
  readonly expiresAt: number;
  /** The cache's operation count when the entry was last moved to the recent end. */
  tick: number;
}

export class CachedAuthView implements AuthView {
  /** Map iteration order is insertion order: re-inserting on a hit makes the first key the LRU one. */
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** Bumped by every invalidation; a lookup only fills the cache if it is unchanged since it started. */
  private generation = 0;
  private hits = 0;
  private ticks = 0;
  private misses = 0;
  private readonly clock: () => number;
  private readonly unsubscribe: () => void;

  /** Takes ownership of `inner` (close() closes it). */
  constructor(
    private readonly inner: AuthView,
    private readonly opts: CachedAuthViewOptions,
  ) {
    if (!(opts.maxEntries >= 1)) throw new Error('CachedAuthView: maxEntries must be at least 1');
    if (!(opts.ttlMs > 0)) throw new Error('CachedAuthView: ttlMs must be positive');
    this.clock = opts.clock ?? Date.now;
    this.unsubscribe = inner.onChange(() => this.invalidate());
  }

  // Secrets (provider keys, service tokens, user keys) are cached under their SHA-256 digest, never as
  // themselves, like every other index of the auth view.
  /** Hits answered synchronously (same keys, TTL and LRU as the async methods); a miss is `undefined`. */
  readonly peek: AuthViewPeek = {
    tenantByProviderKey: (providerKey) => this.hit(`pk\n${lookupDigest(providerKey)}`),
    providerKeyForServiceToken: (token, serviceId) => this.hit(`tok\n${serviceId}\n${lookupDigest(token)}`),
    service: (serviceId) => this.hit(`svc\n${serviceId}`),
    plan: (serviceId, planId) => this.hit(`plan\n${serviceId}\n${planId}`),
    application: (serviceId, appId) => this.hit(`app\n${serviceId}\n${appId}`),
    appIdByUserKey: (serviceId, userKey) => this.hit(`uk\n${serviceId}\n${lookupDigest(userKey)}`),
  };

  tenantByProviderKey(providerKey: string): Promise<TenantView | null> {
    return this.cached(`pk\n${lookupDigest(providerKey)}`, () => this.inner.tenantByProviderKey(providerKey));
  }

  providerKeyForServiceToken(token: string, serviceId: string): Promise<string | null> {
    return this.cached(`tok\n${serviceId}\n${lookupDigest(token)}`, () =>
      this.inner.providerKeyForServiceToken(token, serviceId),
    );
  }

  service(serviceId: string): Promise<ServiceView | null> {
    return this.cached(`svc\n${serviceId}`, () => this.inner.service(serviceId));
  }

  plan(serviceId: string, planId: string): Promise<PlanView | null> {
    return this.cached(`plan\n${serviceId}\n${planId}`, () => this.inner.plan(serviceId, planId));
  }

  application(serviceId: string, appId: string): Promise<AppView | null> {
    return this.cached(`app\n${serviceId}\n${appId}`, () => this.inner.application(serviceId, appId));
  }

  appIdByUserKey(serviceId: string, userKey: string): Promise<string | null> {
    return this.cached(`uk\n${serviceId}\n${lookupDigest(userKey)}`, () =>
      this.inner.appIdByUserKey(serviceId, userKey),
    );
  }

  async syncTenant(snapshot: TenantSnapshot): Promise<void> {
    try {
      await this.inner.syncTenant(snapshot);
    } finally {
      // Our own writes are visible at once, without waiting for the change feed's round trip.
      this.invalidate();
    }
  }

  async deleteTenant(tenantId: string): Promise<void> {
    try {
      await this.inner.deleteTenant(tenantId);
    } finally {
      this.invalidate();
    }
  }

  onChange(listener: (tenantId: string) => void): () => void {
    return this.inner.onChange(listener);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.invalidate();
    await this.inner.close();
  }

  /** Number of cached entries (for metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** Lookups answered from the cache, and lookups that had to ask the inner view (shared ones count once each). */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.hits, misses: this.misses };
  }

  private invalidate(): void {
    this.generation++;
    this.entries.clear();
    this.inflight.clear();
  }

  /** The live cached value of `key` (made most recently used), or undefined; drops it when expired. */
  private hit<T>(key: string): T | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.expiresAt <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    // Moved to the recent end only when a quarter of the cache's capacity in operations has passed since
    // it last was: hot entries stay far from eviction without a delete + insert on every hit.
    const tick = ++this.ticks;
    if (tick - hit.tick > this.opts.maxEntries >> 2) {
      hit.tick = tick;
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    this.hits++;
    return hit.value as T;
  }

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.hit<T>(key);
    if (hit !== undefined) return Promise.resolve(hit);
    this.misses++;
    const pending = this.inflight.get(key);
    if (pending) return pending as Promise<T>;
    const generation = this.generation;
    const p = load().then(
      (value) => {
        if (this.generation === generation) {
          this.inflight.delete(key);
          this.store(key, value);
        }
        return value;
      },
      (err: unknown) => {
        if (this.generation === generation) this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  private store(key: string, value: unknown): void {
    this.entries.set(key, { value, expiresAt: this.clock() + this.opts.ttlMs, tick: ++this.ticks });
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
