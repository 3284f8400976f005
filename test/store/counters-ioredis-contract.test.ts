/**
 * The CounterStore contract on Redis through ioredis (the lane off): the path used when the connection
 * needs TLS or Sentinel. counters-contract.test.ts runs the default, the lane.
 */
import { describe } from 'vitest';
import { RedisCounterStore } from '../../src/store/counters/redis.js';
import type { CounterStore } from '../../src/store/ports.js';
import { counterStoreContract } from '../contract/counters.contract.js';
import { redisSpace } from '../contract/fixtures.js';
import { hasRedis } from '../support/services.js';

describe.skipIf(!hasRedis)('Redis through ioredis', () => {
  counterStoreContract('redis, ioredis path (3 connections)', async () => {
    const space = redisSpace();
    const opened: CounterStore[] = [];
    const open = async () => {
      const s = new RedisCounterStore(space.connect(), { lane: false });
      opened.push(s);
      return s;
    };
    const [store, ...peers] = [await open(), await open(), await open()];
    return {
      store: store!,
      peers,
      reopen: open,
      cleanup: async () => {
        for (const s of opened) await s.close();
        await space.drop();
      },
    };
  });
});
