/**
 * Keeps the usage log bounded: every few minutes drops entries past their retention that every consumer
 * group has acked (report batches after 2 days, usage events after 7 days, until analytics rolls them up).
 */
import type { Logger } from '../obs/logger.js';
import type { UsageLog, UsageStream } from '../store/ports.js';

const DAY = 86_400_000;
export const RETENTION_MS: Readonly<Record<UsageStream, number>> = { reports: 2 * DAY, events: 7 * DAY };

export class UsageLogJanitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: UsageLog,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
    private readonly intervalMs = 5 * 60_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running
        .then(async () => {
          await this.sweep();
        })
        .catch((err) => this.logger.warn({ err }, 'usage log trim failed'));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** One pass over every stream; returns how many entries were dropped. */
  async sweep(): Promise<number> {
    let dropped = 0;
    for (const stream of Object.keys(RETENTION_MS) as UsageStream[]) {
      dropped += await this.log.trim(stream, this.clock() - RETENTION_MS[stream]);
    }
    if (dropped > 0) this.logger.info({ dropped }, 'usage log trimmed');
    return dropped;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
