/**
 * Keeps the auth view current with SQL changes made by other processes (`tollgate apply` against a
 * running deployment): polls each tenant's config_version and re-projects the tenants that changed.
 */
import type { Kysely } from 'kysely';
import { syncAuthView } from '../admin/projection.js';
import type { Logger } from '../obs/logger.js';
import type { AuthView } from '../store/ports.js';
import { tenantConfigVersions } from '../store/sql/repo/tenants.js';
import type { DB } from '../store/sql/schema.js';

export class ConfigPoller {
  private versions = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly view: AuthView,
    private readonly logger: Logger,
    private readonly intervalMs = 250,
  ) {}

  async start(): Promise<void> {
    this.versions = await tenantConfigVersions(this.db);
    this.timer = setInterval(() => {
      this.running = this.running
        .then(() => this.poll())
        .catch((err) => {
          this.logger.warn({ err }, 'config poll failed');
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Compares versions with the last poll; syncs changed tenants and drops deleted ones. */
  async poll(): Promise<void> {
    const now = await tenantConfigVersions(this.db);
    const changed: string[] = [];
    for (const [id, v] of now) if (this.versions.get(id) !== v) changed.push(id);
    const removed = [...this.versions.keys()].filter((id) => !now.has(id));
    if (changed.length > 0) await syncAuthView(this.db, this.view, changed);
    for (const id of removed) await this.view.deleteTenant(id);
    if (changed.length > 0 || removed.length > 0)
      this.logger.info({ changed, removed }, 'auth view re-projected');
    this.versions = now;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
