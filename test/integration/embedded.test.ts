// The embedded default end to end: start from the CLI with a config, count usage, restart cleanly and
// after kill -9, and check what survives; apply/export through the CLI against the running server.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startTollgate } from '../support/proc.js';
import { currentValue, get } from './http.js';

const FIXTURE = fileURLToPath(new URL('./limits.yaml', import.meta.url));
const ROLES = ['admin', 'backend', 'gateway'];
const ARGS = ['--admin-port', '0', '--backend-port', '0', '--gateway-port', '0'];

function authrep(port: number, usage = 'usage%5Bsearch%5D=1') {
  return get(
    `http://127.0.0.1:${port}/transactions/authrep.xml?provider_key=itest-provider-key&service_id=7001&user_key=itest-key&${usage}`,
  );
}
function authorize(port: number) {
  return get(
    `http://127.0.0.1:${port}/transactions/authorize.xml?provider_key=itest-provider-key&service_id=7001&user_key=itest-key`,
  );
}

describe('embedded default (SQLite file + in-process counters)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-it-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves health and metrics on every listener', async () => {
    const p = await startTollgate(['--data-dir', dir, '--config', FIXTURE, ...ARGS], {}, ROLES);
    try {
      for (const role of ROLES) {
        const h = await get(`http://127.0.0.1:${p.ports[role]}/health`);
        expect(h.status, role).toBe(200);
        const m = await get(`http://127.0.0.1:${p.ports[role]}/metrics`);
        expect(m.status, role).toBe(200);
        expect(m.body).toContain('process_cpu_user_seconds_total');
      }
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('keeps every count across a clean restart, and all but the last second across kill -9', async () => {
    let p = await startTollgate(['--data-dir', dir, ...ARGS], {}, ROLES);
    try {
      const before = currentValue((await authorize(p.ports.backend!)).body, 'hits', 'eternity');
      for (let i = 0; i < 7; i++) expect((await authrep(p.ports.backend!)).status).toBe(200);
      expect(await p.stop()).toBe(0);

      p = await startTollgate(['--data-dir', dir, ...ARGS], {}, ROLES);
      expect(currentValue((await authorize(p.ports.backend!)).body, 'hits', 'eternity')).toBe(before + 7);
      for (let i = 0; i < 3; i++) expect((await authrep(p.ports.backend!)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1500)); // past one flush interval
      await p.kill();

      p = await startTollgate(['--data-dir', dir, ...ARGS], {}, ROLES);
      expect(currentValue((await authorize(p.ports.backend!)).body, 'hits', 'eternity')).toBe(before + 10);
    } finally {
      // Also when an assertion failed: no server outlives the test.
      await p.stop();
    }
  });

  it('applies a change to the running server within a second, and export applies back with no change', async () => {
    const p = await startTollgate(['--data-dir', dir, ...ARGS], {}, ROLES);
    try {
      const exported = await runCli(['export', '--data-dir', dir]);
      expect(exported.code, exported.stderr).toBe(0);
      const file = join(dir, 'export.yaml');
      writeFileSync(file, exported.stdout);
      const again = await runCli(['apply', '-f', file, '--data-dir', dir]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('no changes');

      // Suspend the application through the config file; the running backend must refuse it.
      const suspended = readFileSync(FIXTURE, 'utf8').replace(
        '{ name: Capped App, service: api, plan: capped, user_key: itest-key }',
        '{ name: Capped App, service: api, plan: capped, user_key: itest-key, state: suspended }',
      );
      const file2 = join(dir, 'suspended.yaml');
      writeFileSync(file2, suspended);
      const applied = await runCli(['apply', '-f', file2, '--data-dir', dir]);
      expect(applied.code, applied.stderr).toBe(0);
      const started = Date.now();
      let body = '';
      while (Date.now() - started < 1000) {
        body = (await authorize(p.ports.backend!)).body;
        if (body.includes('application is not active')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(body).toContain('<reason>application is not active</reason>');
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });
});

describe('the tollgate command', () => {
  it('refuses a bad config whole, naming each fault, with a non-zero exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
    try {
      const bad = readFileSync(FIXTURE, 'utf8').replace('hits: { eternity: 100 }', 'hits: { dai: 100 }');
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, bad);
      const r = await runCli(['apply', '-f', file, '--data-dir', dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('tenants[0].services[0].plans[0].limits.hits.dai: unknown period');
      const exported = await runCli(['export', '--data-dir', dir]);
      expect(exported.stdout).not.toContain('itest');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 with usage for unknown commands and options', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const r = await runCli(['start', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bogus');
    expect((await runCli(['start', '--roles', 'admin,chef'])).stderr).toContain('unknown role "chef"');
  });
});
