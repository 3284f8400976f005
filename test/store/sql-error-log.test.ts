// SqlErrorLog over real SQLite and PostgreSQL: newest first, paging, count, the per-service cap, clear.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IntegrationError } from '../../src/store/ports.js';
import type { SqlStore } from '../../src/store/sql/db.js';
import { SqlErrorLog } from '../../src/store/sql/error-log.js';
import { type SqlCase, sqlCases } from '../config/sql-cases.js';

const err = (i: number): IntegrationError => ({
  code: `code_${i}`,
  message: `message ${i}`,
  timestamp: 1_700_000_000_000 + i,
});

function errorLogSuite(c: SqlCase): void {
  describe.skipIf(!c.available)(`SqlErrorLog (${c.name})`, () => {
    let store: SqlStore;
    let log: SqlErrorLog;
    let dispose: () => Promise<void>;
    beforeEach(async () => {
      ({ store, dispose } = await c.open());
      log = new SqlErrorLog(store.db);
    });
    afterEach(async () => {
      await dispose();
    });

    it('lists newest first with a count, per service', async () => {
      await log.add('s1', [err(1), err(2)]);
      await log.add('s1', [err(3)]);
      await log.add('s2', [err(9)]);
      expect(await log.list('s1', 0, 10)).toEqual({ errors: [err(3), err(2), err(1)], count: 3 });
      expect(await log.list('s1', 1, 1)).toEqual({ errors: [err(2)], count: 3 });
      expect(await log.list('s2', 0, 10)).toEqual({ errors: [err(9)], count: 1 });
      expect(await log.list('nope', 0, 10)).toEqual({ errors: [], count: 0 });
    });

    it('keeps only the newest errors beyond the cap', async () => {
      const small = new SqlErrorLog(store.db, 5);
      await small.add('s1', [1, 2, 3, 4].map(err));
      await small.add('s1', [5, 6, 7].map(err));
      const { errors, count } = await small.list('s1', 0, 100);
      expect(count).toBe(5);
      expect(errors.map((e) => e.code)).toEqual(['code_7', 'code_6', 'code_5', 'code_4', 'code_3']);
    });

    it('caps at 1000 per service by default', async () => {
      await log.add(
        's1',
        Array.from({ length: 1003 }, (_, i) => err(i)),
      );
      await log.add('s2', [err(1)]);
      const page = await log.list('s1', 0, 2);
      expect(page.count).toBe(1000);
      expect(page.errors.map((e) => e.code)).toEqual(['code_1002', 'code_1001']);
      const last = await log.list('s1', 999, 5);
      expect(last.errors.map((e) => e.code)).toEqual(['code_3']);
      expect((await log.list('s2', 0, 5)).count).toBe(1);
    });

    it('clears one service only', async () => {
      await log.add('s1', [err(1)]);
      await log.add('s2', [err(2)]);
      await log.clear('s1');
      expect(await log.list('s1', 0, 10)).toEqual({ errors: [], count: 0 });
      expect((await log.list('s2', 0, 10)).count).toBe(1);
    });
  });
}

for (const c of sqlCases) errorLogSuite(c);
