/**
 * Keeps the auth view current with SQL changes made by other processes (`tollgate apply` against a
 * running deployment): follows the tenants' config versions (a ConfigVersionWatch, shared with the
 * gateway's snapshot source) and re-projects the tenants that changed.
 */
import type { Kysely } from 'kysely';
import { syncAuthView } from '../admin/projection.js';
import type { Logger } from '../obs/logger.js';
import type { AuthView } from '../store/ports.js';
import type { DB } from '../store/sql/schema.js';
import type { ConfigVersions, ConfigVersionWatch } from '../store/sql/version-watch.js';

export class ConfigPoller {
  private versions: ConfigVersions = new Map();
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly view: AuthView,
    private readonly logger: Logger,
    private readonly watch: ConfigVersionWatch,
  ) {}

  async start(): Promise<void> {
    this.versions = await this.watch.read();
    this.unsubscribe = this.watch.subscribe((now) => {
      this.running = this.running
        .then(() => this.apply(now))
        .catch((err) => {
          this.logger.warn({ err }, 'config poll failed');
        });
    });
  }

  /** Compares versions with the last ones seen; syncs changed tenants and drops deleted ones. */
  private async apply(now: ConfigVersions): Promise<void> {
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
    this.unsubscribe?.();
    await this.running;
  }
}
