/**
 * Opens the SQL store: Kysely over SQLite (better-sqlite3, the embedded default) or PostgreSQL (pg).
 * One schema for both; migrations run at open. A PostgreSQL `schema` isolates a deployment (and a test).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { WalCheckpointer } from './checkpointer.js';
import { migrations } from './migrations/index.js';
import type { DB } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface SqlStore {
  readonly db: Kysely<DB>;
  readonly dialect: Dialect;
  /**
   * SQLite files: the thread that runs WAL checkpoints off the event loop (checkpointer.ts), while it
   * runs; undefined for PostgreSQL, `:memory:`, or when it could not start or was lost (SQLite's own
   * automatic checkpoints are then on).
   */
  readonly checkpointer: () => WalCheckpointer | undefined;
  close(): Promise<void>;
}

export interface OpenSqlOptions {
  /** `postgres://…` for PostgreSQL; otherwise a SQLite file path, or `:memory:`. */
  readonly url: string;
  /** PostgreSQL schema to use (created when missing). Default `public`. */
  readonly schema?: string;
  /** Pool size for PostgreSQL (default 10). */
  readonly poolSize?: number;
  /** SQLite files: WAL checkpoints on a thread of their own, every this many ms (default 1000; 0 = inline). */
  readonly checkpointMs?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens the database and brings its schema up to date. */
export async function openSqlStore(opts: OpenSqlOptions): Promise<SqlStore> {
  const isPg = /^postgres(ql)?:\/\//.test(opts.url);
  let db: Kysely<DB>;
  let sqlite: Database.Database | undefined;
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
    sqlite = new Database(opts.url);
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
  const checkpointMs = opts.checkpointMs ?? 1000;
  let checkpointer: WalCheckpointer | undefined;
  if (sqlite && opts.url !== ':memory:' && checkpointMs > 0) {
    const conn = sqlite;
    checkpointer = await WalCheckpointer.start(opts.url, {
      everyMs: checkpointMs,
      onLost: () => {
        checkpointer = undefined;
        if (conn.open) conn.pragma('wal_autocheckpoint = 1000'); // SQLite's default: the log stays bounded
      },
    }).catch(() => undefined); // SQLite's own checkpoints stay on: slower commits now and then, nothing lost
    if (checkpointer) sqlite.pragma('wal_autocheckpoint = 0');
  }
  return {
    db,
    dialect,
    checkpointer: () => checkpointer,
    close: async () => {
      const cp = checkpointer;
      checkpointer = undefined;
      await cp?.stop();
      await db.destroy(); // the last connection to close checkpoints the rest and removes the log
    },
  };
}
