/** Migration 006, events: webhook endpoints, deliveries. */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m006Events(_dialect: Dialect): Migration {
  return { up: async () => {} };
}
