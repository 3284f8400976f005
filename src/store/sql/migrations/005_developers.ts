/** Migration 005, developers: users, account users, token owners. */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m005Developers(_dialect: Dialect): Migration {
  return { up: async () => {} };
}
