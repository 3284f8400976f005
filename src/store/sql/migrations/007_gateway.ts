/** Migration 007, gateway: a service's data-plane settings (path prefix, error answers, remote backend…). */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m007Gateway(_dialect: Dialect): Migration {
  return {
    up: async (db) => {
      // One JSON object with the config's field names (see ServiceGateway); read and written whole.
      await db.schema
        .alterTable('services')
        .addColumn('gateway', 'text', (c) => c.notNull().defaultTo('{}'))
        .execute();
    },
  };
}
