/** Usage tier tables: the embedded usage log and the memory counter store's snapshots. */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m002Usage(_dialect: Dialect): Migration {
  return { up: async () => {} };
}
