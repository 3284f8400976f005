/** Migration 004, catalog: plan features, policies, plan flags. */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m004Catalog(_dialect: Dialect): Migration {
  return { up: async () => {} };
}
