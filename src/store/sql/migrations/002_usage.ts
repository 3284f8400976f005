/** Usage tier tables: the embedded usage log and the memory counter store's snapshots. */
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m002Usage(dialect: Dialect): Migration {
  return {
    // Migrations see the schema as it was then, untyped: only db.schema is used.
    up: async (db: Kysely<unknown>) => {
      await db.schema
        .createTable('counter_snapshot')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'bigint', (c) => c.notNull())
        .addColumn('expire_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('usage_log')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('record_id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('usage_log_stream_seq')
        .on('usage_log')
        .columns(['stream', 'seq'])
        .execute();
      await db.schema
        .createTable('usage_log_groups')
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('group_name', 'text', (c) => c.notNull())
        .addColumn('last_seq', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_log_groups_pk', ['stream', 'group_name'])
        .execute();
    },
  };
}
