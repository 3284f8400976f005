// `tollgate apply --server` goes through the admin API of a running server: changes are applied and live,
// a second apply changes nothing, a bad token or a bad file exits non-zero with the reason.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type Started, startTollgate } from '../support/proc.js';
import { get } from './http.js';

const FIXTURE = fileURLToPath(new URL('./limits.yaml', import.meta.url));

describe('tollgate apply --server (through the admin API)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-remote-'));
  let p: Started;
  let server = '';

  beforeAll(async () => {
    p = await startTollgate(
      [
        '--data-dir',
        dir,
        '--config',
        FIXTURE,
        '--admin-port',
        '0',
        '--backend-port',
        '0',
        '--roles',
        'admin,backend',
      ],
      {},
      ['admin', 'backend'],
    );
    server = `http://127.0.0.1:${p.ports.admin}`;
  }, 60_000);
  afterAll(async () => {
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a change that the backend enforces at once, then reports no changes', async () => {
    const changed = readFileSync(FIXTURE, 'utf8').replace('hits: { eternity: 100 }', 'hits: { eternity: 0 }');
    const file = join(dir, 'changed.yaml');
    writeFileSync(file, changed);
    const dry = await runCli([
      'apply',
      '-f',
      file,
      '--server',
      server,
      '--token',
      'itest-admin-token',
      '--dry-run',
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would apply: update');
    const r = await runCli(['apply', '-f', file, '--server', server, '--token', 'itest-admin-token']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/applied: update/);
    const auth = await get(
      `http://127.0.0.1:${p.ports.backend}/transactions/authorize.xml?provider_key=itest-provider-key&service_id=7001&user_key=itest-key&usage%5Bhits%5D=1`,
    );
    expect(auth.status).toBe(409);
    expect(auth.body).toContain('<max_value>0</max_value>');
    const again = await runCli(['apply', '-f', file], {
      TOLLGATE_URL: server,
      TOLLGATE_TOKEN: 'itest-admin-token',
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('no changes');
  });

  it('exits non-zero with the reason for a bad token, a missing token and a bad file', async () => {
    const badToken = await runCli(['apply', '-f', FIXTURE, '--server', server, '--token', 'nope']);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('401 unauthorized');
    const noToken = await runCli(['apply', '-f', FIXTURE, '--server', server]);
    expect(noToken.code).toBe(2);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(FIXTURE, 'utf8').replace('hits: { eternity: 100 }', 'hits: { dai: 1 }'));
    const refused = await runCli(['apply', '-f', bad, '--server', server, '--token', 'itest-admin-token']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('tenants[0].services[0].plans[0].limits.hits.dai: unknown period');
  });

  it('manages services, plans, accounts, applications, keys and tokens with readable tables and --json', async () => {
    const env = { TOLLGATE_URL: server, TOLLGATE_TOKEN: 'itest-admin-token' };
    const services = await runCli(['services', 'list'], env);
    expect(services.code, services.stderr).toBe(0);
    expect(services.stdout).toMatch(/^ID\s+SYSTEM_NAME\s+NAME\s+STATE/);
    expect(services.stdout).toContain('7001');
    const plans = JSON.parse(
      (await runCli(['plans', 'list', '--service', '7001', '--json'], env)).stdout,
    ) as {
      items: { id: string; system_name: string }[];
    };
    const plan = plans.items.find((p) => p.system_name === 'capped')!;
    const account = JSON.parse(
      (await runCli(['accounts', 'create', '--name', 'CLI Co', '--email', 'cli@example.com', '--json'], env))
        .stdout,
    ) as { id: string };
    const app = JSON.parse(
      (
        await runCli(
          [
            'applications',
            'create',
            '--account',
            account.id,
            '--service',
            '7001',
            '--plan',
            plan.id,
            '--name',
            'cli',
            '--json',
          ],
          env,
        )
      ).stdout,
    ) as { id: string; user_key: string };
    expect(app.user_key).toMatch(/^[0-9a-f]{32}$/);
    const authorize = (key: string) =>
      get(
        `http://127.0.0.1:${p.ports.backend}/transactions/authorize.xml?provider_key=itest-provider-key&service_id=7001&user_key=${key}`,
      );
    expect((await authorize(app.user_key)).body).toContain('<authorized>true</authorized>');
    const suspended = await runCli(['applications', 'suspend', app.id], env);
    expect(suspended.code, suspended.stderr).toBe(0);
    expect(suspended.stdout).toMatch(/state\s+suspended/);
    expect((await authorize(app.user_key)).body).toContain('application is not active');
    const regenerated = JSON.parse((await runCli(['keys', 'regenerate', app.id, '--json'], env)).stdout) as {
      user_key: string;
    };
    expect(regenerated.user_key).not.toBe(app.user_key);
    const token = await runCli(
      ['tokens', 'create', '--name', 'ro', '--scopes', 'management', '--read-only', '--json'],
      env,
    );
    expect(token.code, token.stderr).toBe(0);
    const ro = JSON.parse(token.stdout) as { value: string };
    const denied = await runCli(['accounts', 'delete', account.id], { ...env, TOLLGATE_TOKEN: ro.value });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('403 forbidden');
    const missing = await runCli(['applications', 'create', '--account', account.id], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs --service');
  });

  it('answers resource commands with readable errors when the server is unreachable', async () => {
    const r = await runCli(['services', 'list', '--server', 'http://127.0.0.1:9', '--token', 't']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the admin API');
    const usage = await runCli(['services', 'frob']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('services takes: list, get, create, delete');
  });
});

describe('TOLLGATE_PLATFORM_TOKEN', () => {
  it('registers a platform token that manages tenants, and refuses a short one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-platform-'));
    const token = 'platform-token-for-tests-0123456789';
    const p = await startTollgate(
      ['--data-dir', dir, '--admin-port', '0', '--roles', 'admin'],
      { TOLLGATE_PLATFORM_TOKEN: token },
      ['admin'],
    );
    try {
      const res = await fetch(`http://127.0.0.1:${p.ports.admin}/admin/api/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'newco' }),
      });
      expect(res.status).toBe(201);
      const list = await fetch(`http://127.0.0.1:${p.ports.admin}/admin/api/tenants`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(((await list.json()) as { items: { name: string }[] }).items.map((t) => t.name)).toContain(
        'newco',
      );
    } finally {
      await p.stop();
    }
    const short = await runCli(['start', '--data-dir', dir, '--admin-port', '0'], {
      TOLLGATE_PLATFORM_TOKEN: 'short',
    });
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('TOLLGATE_PLATFORM_TOKEN');
    rmSync(dir, { recursive: true, force: true });
  });
});
