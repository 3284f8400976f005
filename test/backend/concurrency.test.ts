/** Exact counting under concurrency: 300 simultaneous authreps against a minute limit of 100 admit exactly 100. */
import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { get, type Harness, startHarness } from './support/fixture.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

it('300 concurrent authreps against a minute limit of 100 admit exactly 100', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const u = new URL(h.url);
  const path = '/transactions/authrep.xml?provider_key=pk1&service_id=svc-uk&user_key=ukmin&usage[hits]=1';
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  try {
    const statuses = await Promise.all(Array.from({ length: 300 }, one));
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 409)).toHaveLength(200);
  } finally {
    agent.destroy();
  }
  const after = await get(h, '/transactions/authorize.xml?provider_key=pk1&service_id=svc-uk&user_key=ukmin');
  expect(after.body).toContain('<max_value>100</max_value><current_value>100</current_value>');
});
