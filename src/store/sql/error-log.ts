/**
 * Integration errors per service in SQL: newest first (most recently added), capped at 1000 per service
 * as 3scale's backend keeps them (LPUSH + LTRIM). Insertion order is the autoincrement id.
 */
import type { Kysely } from 'kysely';
import type { ErrorLog, IntegrationError } from '../ports.js';
import { num } from './repo/records.js';
import type { DB } from './schema.js';

/** How many errors a service keeps. */
export const ERRORS_PER_SERVICE = 1000;

export class SqlErrorLog implements ErrorLog {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly cap = ERRORS_PER_SERVICE,
  ) {}

  /** Adds errors in the order given: the last one becomes the newest. */
  async add(serviceId: string, errors: readonly IntegrationError[]): Promise<void> {
    if (errors.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      // One insert per row keeps their ids in the order given (a multi-row insert does too, but
      // SQLite's limit on bound parameters would cap the batch size).
      for (const e of errors) {
        await trx
          .insertInto('integration_errors')
          .values({ service_id: serviceId, code: e.code, message: e.message, timestamp: e.timestamp })
          .execute();
      }
      const edge = await trx
        .selectFrom('integration_errors')
        .select('id')
        .where('service_id', '=', serviceId)
        .orderBy('id', 'desc')
        .offset(this.cap - 1)
        .limit(1)
        .executeTakeFirst();
      if (edge)
        await trx
          .deleteFrom('integration_errors')
          .where('service_id', '=', serviceId)
          .where('id', '<', num(edge.id))
          .execute();
    });
  }

  async list(
    serviceId: string,
    offset: number,
    limit: number,
  ): Promise<{ errors: IntegrationError[]; count: number }> {
    const [rows, total] = await Promise.all([
      this.db
        .selectFrom('integration_errors')
        .select(['code', 'message', 'timestamp'])
        .where('service_id', '=', serviceId)
        .orderBy('id', 'desc')
        .offset(Math.max(0, offset))
        .limit(Math.max(0, limit))
        .execute(),
      this.db
        .selectFrom('integration_errors')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('service_id', '=', serviceId)
        .executeTakeFirstOrThrow(),
    ]);
    return {
      errors: rows.map((r) => ({ code: r.code, message: r.message, timestamp: num(r.timestamp) })),
      count: num(total.n),
    };
  }

  async clear(serviceId: string): Promise<void> {
    await this.db.deleteFrom('integration_errors').where('service_id', '=', serviceId).execute();
  }
}
