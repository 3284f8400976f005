/**
 * One poll of the tenants' config versions for every part of a process that follows config changes made
 * in SQL (the auth view's projection, the gateway's in-process snapshot source): one query and one
 * wake-up per interval however many parts follow it, and none while nobody does.
 */
import type { Kysely } from 'kysely';
import { tenantConfigVersions } from './repo/tenants.js';
import type { DB } from './schema.js';

export type ConfigVersions = ReadonlyMap<string, number>;

export class ConfigVersionWatch {
  private readonly listeners = new Set<(versions: ConfigVersions) => void>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private failing = false;
  /** Polls made so far (for tests and diagnostics). */
  polls = 0;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly intervalMs = 250,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** The versions now, read at once (not waiting for the next poll). */
  read(): Promise<ConfigVersions> {
    return tenantConfigVersions(this.db);
  }

  /**
   * Hands every poll's versions to `listener` (it compares them with what it has seen), from the next
   * poll on; returns the unsubscribe function. Polling runs while anyone is subscribed.
   */
  subscribe(listener: (versions: ConfigVersions) => void): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        // One poll at a time: a slow query is not overtaken by the next.
        this.running = this.running.then(() => this.poll());
      }, this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** The versions of the next poll, or null after `ms` or when `signal` aborts. */
  next(ms: number, signal?: AbortSignal): Promise<ConfigVersions | null> {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve(null);
        return;
      }
      const finish = (v: ConfigVersions | null): void => {
        clearTimeout(t);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = (): void => finish(null);
      const t = setTimeout(() => finish(null), ms);
      const unsubscribe = this.subscribe((v) => finish(v));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops polling (subscribers hear nothing more) and waits for a poll in progress. */
  async stop(): Promise<void> {
    this.listeners.clear();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async poll(): Promise<void> {
    if (this.listeners.size === 0) return;
    let versions: ConfigVersions;
    try {
      versions = await tenantConfigVersions(this.db);
    } catch (err) {
      // Once per outage, not every interval: subscribers keep what they had until a poll succeeds.
      if (!this.failing) this.onError(err);
      this.failing = true;
      return;
    }
    this.failing = false;
    this.polls++;
    for (const l of [...this.listeners]) {
      try {
        l(versions);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
