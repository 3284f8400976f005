/** The UsageLog contract: every usage log adapter passes it (memory is the reference). */
import { afterEach, describe, expect, it } from 'vitest';
import type { Delivery, LogRecord, UsageLog } from '../../src/store/ports.js';
import { sleep } from './fixtures.js';

export interface UsageLogFixture {
  readonly store: UsageLog;
  /** Opens a new instance over the same storage, as a restarted process would. */
  reopen(): Promise<UsageLog>;
  /** Closes whatever the fixture opened and removes its data. */
  cleanup(): Promise<void>;
}

export interface UsageLogFactoryOptions {
  /** Passed to every instance the fixture opens; the suite uses a large value unless it tests reclaim. */
  readonly reclaimAfterMs: number;
}

const rec = (i: number, payload: unknown = { n: i }): LogRecord => ({ id: `r${i}`, payload });
const ids = (ds: readonly Delivery[]) => ds.map((d) => d.record.id);

/** Reads until `want` records arrived or `withinMs` passed (reclaims and restarts take a while). */
async function collect(
  log: UsageLog,
  group: string,
  consumer: string,
  want: number,
  withinMs: number,
): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + withinMs;
  while (out.length < want && Date.now() < deadline) {
    out.push(...(await log.read('reports', group, consumer, 500, 100)));
  }
  return out;
}

export function usageLogContract(
  name: string,
  factory: (opts: UsageLogFactoryOptions) => Promise<UsageLogFixture>,
): void {
  describe(`UsageLog contract: ${name}`, () => {
    let fx: UsageLogFixture | undefined;
    const open = async (reclaimAfterMs = 60_000) => {
      fx = await factory({ reclaimAfterMs });
      return fx;
    };
    afterEach(async () => {
      await fx?.cleanup();
      fx = undefined;
    });

    it('delivers records in append order with their payloads, and not again once acked', async () => {
      const { store } = await open();
      const payloads = [{ a: 1, nested: { list: [1, 'two', null], ok: true } }, 'text', 42, null];
      await store.append(
        'reports',
        payloads.map((p, i) => rec(i, p)),
      );
      const got = await store.read('reports', 'g', 'c1', 10, 0);
      expect(ids(got)).toEqual(['r0', 'r1', 'r2', 'r3']);
      expect(got.map((d) => d.record.payload)).toEqual(payloads);
      expect(new Set(got.map((d) => d.seq)).size).toBe(4);
      await store.ack(
        'reports',
        'g',
        got.map((d) => d.seq),
      );
      await store.append('reports', [rec(4)]);
      expect(ids(await store.read('reports', 'g', 'c1', 10, 0))).toEqual(['r4']);
    });

    it('hands out at most `max`, and an entry to one consumer of a group at a time', async () => {
      const { store } = await open();
      await store.append(
        'reports',
        [0, 1, 2, 3, 4].map((i) => rec(i)),
      );
      expect(ids(await store.read('reports', 'g', 'c1', 2, 0))).toEqual(['r0', 'r1']);
      expect(ids(await store.read('reports', 'g', 'c2', 10, 0))).toEqual(['r2', 'r3', 'r4']);
      expect(await store.read('reports', 'g', 'c3', 10, 0)).toEqual([]);
    });

    it('gives every group every entry, and keeps streams apart', async () => {
      const { store } = await open();
      await store.append('reports', [rec(0), rec(1)]);
      await store.append('events', [rec(9)]);
      expect(ids(await store.read('reports', 'g1', 'c', 10, 0))).toEqual(['r0', 'r1']);
      expect(ids(await store.read('reports', 'g2', 'c', 10, 0))).toEqual(['r0', 'r1']);
      expect(ids(await store.read('events', 'g1', 'c', 10, 0))).toEqual(['r9']);
    });

    it('returns nothing after blocking on an empty stream, and wakes a blocked read on append', async () => {
      const { store } = await open();
      expect(await store.read('reports', 'g', 'c', 10, 100)).toEqual([]);
      const blocked = store.read('reports', 'g', 'c', 10, 10_000);
      await sleep(100);
      await store.append('reports', [rec(1)]);
      expect(ids(await blocked)).toEqual(['r1']);
    });

    it('delivers unacked entries again after a restart, and acked ones never', async () => {
      const fx0 = await open(300);
      await fx0.store.append(
        'reports',
        [0, 1, 2, 3, 4].map((i) => rec(i)),
      );
      const first = await fx0.store.read('reports', 'g', 'c1', 10, 0);
      expect(ids(first)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
      const seqOf = (id: string) => first.find((d) => d.record.id === id)!.seq;
      await fx0.store.ack('reports', 'g', [seqOf('r0'), seqOf('r1'), seqOf('r3')]);
      await fx0.store.close();

      const restarted = await fx0.reopen();
      const again = await collect(restarted, 'g', 'c2', 2, 5000);
      expect(ids(again)).toEqual(expect.arrayContaining(['r2', 'r4']));
      expect(ids(again)).not.toContain('r0');
      expect(ids(again)).not.toContain('r1');
      // At-least-once: an entry acked out of order may come back (the SQL cursor moves contiguously).
      await restarted.ack(
        'reports',
        'g',
        again.map((d) => d.seq),
      );
      await restarted.close();

      const third = await fx0.reopen();
      await sleep(400);
      expect(await third.read('reports', 'g', 'c3', 10, 200)).toEqual([]);
    });

    it('hands an entry left unacked past reclaimAfterMs to the next reader', async () => {
      const { store } = await open(300);
      await store.append('reports', [rec(0), rec(1)]);
      expect(ids(await store.read('reports', 'g', 'c1', 10, 0))).toEqual(['r0', 'r1']);
      const reclaimed = await collect(store, 'g', 'c2', 2, 5000);
      expect(ids(reclaimed)).toEqual(['r0', 'r1']);
    });

    it('appends a batch of 1000 and delivers it in order', async () => {
      const { store } = await open();
      await store.append(
        'reports',
        Array.from({ length: 1000 }, (_, i) => rec(i)),
      );
      const got: Delivery[] = [];
      for (let i = 0; i < 10 && got.length < 1000; i++) {
        const batch = await store.read('reports', 'g', 'c', 300, 0);
        got.push(...batch);
        await store.ack(
          'reports',
          'g',
          batch.map((d) => d.seq),
        );
      }
      expect(ids(got)).toEqual(Array.from({ length: 1000 }, (_, i) => `r${i}`));
      expect(await store.read('reports', 'g', 'c', 10, 0)).toEqual([]);
    });

    it('trims only old entries that every group has acked', async () => {
      const { store } = await open();
      await store.append(
        'reports',
        [0, 1, 2, 3, 4].map((i) => rec(i)),
      );
      const g1 = await store.read('reports', 'g1', 'c', 10, 0);
      const g2 = await store.read('reports', 'g2', 'c', 10, 0);
      await store.ack(
        'reports',
        'g1',
        g1.map((d) => d.seq),
      );
      await store.ack(
        'reports',
        'g2',
        g2.slice(0, 2).map((d) => d.seq),
      );
      expect(await store.trim('reports', Date.now() - 3_600_000)).toBe(0);
      expect(await store.trim('reports', Date.now() + 60_000)).toBe(2);
      expect(ids(await store.read('reports', 'g3', 'c', 10, 0))).toEqual(['r2', 'r3', 'r4']);
      expect(await store.trim('events', Date.now() + 60_000)).toBe(0);
    });
  });
}
