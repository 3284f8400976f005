/**
 * SQL persistence of the memory counter store (table `counter_snapshot`). Guarantees: `save` applies its
 * upserts and deletes in one transaction, so a crash leaves either the previous or the new snapshot;
 * `load` returns only live counters and drops the expired rows a crashed process may have left.
 */
import type { Kysely } from 'kysely';
import type { DB } from '../sql/schema.js';
import type { CounterEntry, CounterPersistence } from './memory.js';

/** Rows per statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

export class SqlCounterPersistence implements CounterPersistence {
  /** Does not own `db` (the SQL store is shared and closed by its opener). */
  constructor(private readonly db: Kysely<DB>) {}

  async load(now: number): Promise<CounterEntry[]> {
    await this.db
      .deleteFrom('counter_snapshot')
      .where('expire_at', '!=', 0)
      .where('expire_at', '<=', now)
      .execute();
    const rows = await this.db.selectFrom('counter_snapshot').select(['key', 'value', 'expire_at']).execute();
    return rows.map((r) => ({ key: r.key, value: Number(r.value), expireAt: Number(r.expire_at) }));
  }

  async save(changed: readonly CounterEntry[], removed: readonly string[]): Promise<void> {
    if (changed.length === 0 && removed.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const part of chunks(removed)) {
        await tx.deleteFrom('counter_snapshot').where('key', 'in', part).execute();
      }
      for (const part of chunks(changed)) {
        await tx
          .insertInto('counter_snapshot')
          .values(part.map((e) => ({ key: e.key, value: e.value, expire_at: e.expireAt })))
          .onConflict((oc) =>
            oc.column('key').doUpdateSet((eb) => ({
              value: eb.ref('excluded.value'),
              expire_at: eb.ref('excluded.expire_at'),
            })),
          )
          .execute();
      }
    });
  }
}
