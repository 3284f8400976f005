/** Migration 004, catalog: plan features, service policies, plan flags, service token timestamps. */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';

/**
 * New columns on 001's tables get defaults, so rows written before (and config applies that do not
 * name them) stay valid. Features are rows of their own: plans enable them through plan_features.
 */
export function m004Catalog(_dialect: Dialect): Migration {
  return {
    up: async (db) => {
      const s = db.schema;
      // The policy chain is read and written whole (JSON array of {name, enabled, configuration}).
      await s
        .alterTable('services')
        .addColumn('policies', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await s
        .alterTable('plans')
        .addColumn('approval_required', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await s
        .alterTable('plans')
        .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      // Null for tokens written by a config apply (the file carries no creation time).
      await s.alterTable('service_tokens').addColumn('created_at', 'bigint').execute();

      await s
        .createTable('features')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('service_id', 'text', (c) => c.notNull().references('services.id').onDelete('cascade'))
        .addColumn('system_name', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
        .addUniqueConstraint('features_service_system_name', ['service_id', 'system_name'])
        .execute();

      await s
        .createTable('plan_features')
        .addColumn('plan_id', 'text', (c) => c.notNull().references('plans.id').onDelete('cascade'))
        .addColumn('feature_id', 'text', (c) => c.notNull().references('features.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('plan_features_pk', ['plan_id', 'feature_id'])
        .execute();
      await s.createIndex('plan_features_feature').on('plan_features').column('feature_id').execute();
    },
  };
}
