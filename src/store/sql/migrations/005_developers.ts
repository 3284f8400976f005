/** Migration 005, developers: tenant users, account users, account state, app description, token owners. */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

export function m005Developers(_dialect: Dialect): Migration {
  return {
    up: async (db) => {
      const s = db.schema;
      await s
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('permissions', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('users_tenant_email', ['tenant_id', 'email'])
        .execute();

      await s
        .createTable('account_users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('account_users_account_email', ['account_id', 'email'])
        .execute();

      // One column per ALTER: SQLite adds a single column per statement.
      await s
        .alterTable('accounts')
        .addColumn('state', 'text', (c) => c.notNull().defaultTo('approved'))
        .execute();
      await s.alterTable('applications').addColumn('description', 'text').execute();
      // SQLite allows a REFERENCES column in ALTER TABLE ADD only with a NULL default (the case here).
      await s
        .alterTable('admin_tokens')
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
        .execute();
      await s.createIndex('admin_tokens_user').on('admin_tokens').column('user_id').execute();
    },
  };
}
