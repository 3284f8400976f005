/**
 * The SQL stores every SQL suite runs over: a real SQLite file, and PostgreSQL in a schema of its own
 * (dropped afterwards). A suite is a describe-factory called once per case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openSqlStore, type SqlStore } from '../../src/store/sql/db.js';
import { hasPostgres, PG_URL, uniqueName } from '../support/services.js';

export interface SqlCase {
  readonly name: 'sqlite' | 'postgres';
  readonly available: boolean;
  /** Opens a fresh, empty, migrated store; `dispose` closes it and removes its data. */
  open(): Promise<{ store: SqlStore; dispose: () => Promise<void> }>;
}

export const sqlCases: readonly SqlCase[] = [
  {
    name: 'sqlite',
    available: true,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-sql-'));
      const store = await openSqlStore({ url: join(dir, 'tollgate.db') });
      return {
        store,
        dispose: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    available: hasPostgres,
    async open() {
      const schema = uniqueName('t');
      const store = await openSqlStore({ url: PG_URL, schema, poolSize: 2 });
      return {
        store,
        dispose: async () => {
          await store.close();
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          try {
            await c.query(`DROP SCHEMA "${schema}" CASCADE`);
          } finally {
            await c.end();
          }
        },
      };
    },
  },
];
