/** Control plane tables: tenants, tokens, services, metrics, plans, limits, accounts, applications… */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m001Config(_dialect: Dialect): Migration {
  return { up: async () => {} };
}
