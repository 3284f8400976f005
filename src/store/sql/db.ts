/**
 * Opens the SQL store: Kysely over SQLite (better-sqlite3, the embedded default) or PostgreSQL (pg).
 * One schema for both; migrations run at open. A PostgreSQL `schema` isolates a deployment (and a test).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrations } from './migrations/index.js';
import type { DB } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface SqlStore {
  readonly db: Kysely<DB>;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

export interface OpenSqlOptions {
  /** `postgres://…` for PostgreSQL; otherwise a SQLite file path, or `:memory:`. */
  readonly url: string;
  /** PostgreSQL schema to use (created when missing). Default `public`. */
  readonly schema?: string;
  /** Pool size for PostgreSQL (default 10). */
  readonly poolSize?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens the database and brings its schema up to date. */
export async function openSqlStore(opts: OpenSqlOptions): Promise<SqlStore> {
  const isPg = /^postgres(ql)?:\/\//.test(opts.url);
  let db: Kysely<DB>;
  const schema = opts.schema ?? 'public';
  if (isPg) {
    if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
    if (schema !== 'public') {
      const admin = new pg.Client({ connectionString: opts.url });
      await admin.connect();
      try {
        await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      } finally {
        await admin.end();
      }
    }
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      options: `-c search_path="${schema}"`,
    });
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  } else {
    if (opts.url !== ':memory:') mkdirSync(dirname(opts.url), { recursive: true });
    const sqlite = new Database(opts.url);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  const dialect: Dialect = isPg ? 'postgres' : 'sqlite';
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations(dialect) },
    // Named explicitly: Kysely otherwise looks for its tables in every schema, and another deployment's
    // (or test's) schema would make it skip creating its own.
    ...(isPg ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    throw error instanceof Error ? error : new Error(String(error));
  }
  return { db, dialect, close: () => db.destroy() };
}
