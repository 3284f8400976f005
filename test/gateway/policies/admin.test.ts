// Policy chains through the admin API and apply/export: a bad configuration is refused with its path,
// a good one is stored as sent, and export → apply changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConfig } from '../../../src/config/apply.js';
import { exportConfig } from '../../../src/config/export.js';
import { ConfigValidationError } from '../../../src/config/faults.js';
import { loadGatewayConfig } from '../../../src/gateway/loader.js';
import { type Bed, openBed } from '../../admin/catalog-support.js';
import { sqlCases } from '../../config/sql-cases.js';
import { EVERY_POLICY } from './examples.js';

describe('policy chains in the admin API and apply/export (sqlite)', () => {
  let bed: Bed;
  beforeAll(async () => {
    bed = await openBed(sqlCases[0]!);
  });
  afterAll(() => bed.close());

  it('refuses a bad configuration with a 400 problem naming its path; nothing is stored', async () => {
    const r = await bed.call('PUT', '/services/7000/policies', {
      body: [
        { name: 'cors' },
        { name: 'retry', configuration: { retries: 2 } },
        { name: 'ip_check', configuration: { check_type: 'deny', cidrs: ['10.0.0.0/8', '300.1.1.1'] } },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.json.code).toBe('invalid_request');
    expect(r.json.detail).toBe('[2].configuration.cidrs[1]: not a CIDR (or IP address)');
    expect(r.json.errors).toEqual([
      { path: 'body/2/configuration/cidrs/1', message: 'not a CIDR (or IP address)' },
    ]);
    expect((await bed.call('GET', '/services/7000/policies')).json).toEqual([]);
  });

  it('refuses default credentials of another kind than the service reads', async () => {
    const r = await bed.call('PUT', '/services/7000/policies', {
      body: [
        { name: 'default_credentials', configuration: { auth_type: 'app_id_and_app_key', app_id: 'x' } },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.json.errors).toEqual([
      { path: 'body/0/configuration/auth_type', message: 'does not fit auth mode user_key' },
    ]);
    expect((await bed.call('GET', '/services/7000/policies')).json).toEqual([]);
  });

  it('stores a good chain as sent; export → apply changes nothing; the gateway compiles it', async () => {
    const put = await bed.call('PUT', '/services/7000/policies', { body: EVERY_POLICY });
    expect(put.status).toBe(200);
    const stored = (await bed.call('GET', '/services/7000/policies')).json;
    expect(stored).toEqual(EVERY_POLICY.map((p) => ({ enabled: true, ...p })));
    const doc = await exportConfig(bed.store.db);
    const alpha = doc.tenants!.find((t) => t.name === 'alpha')!;
    expect(alpha.services![0]!.policies).toEqual(stored);
    const again = await applyConfig(bed.store.db, doc);
    expect(again.changes).toEqual([]);
    expect((await bed.call('GET', '/services/7000/policies')).json).toEqual(stored);
    await bed.call('PUT', '/services/7000/policies', { body: [] });
  });

  it('refuses a bad policy in apply, with the config path', async () => {
    const doc = await exportConfig(bed.store.db);
    const alpha = doc.tenants!.find((t) => t.name === 'alpha')!;
    alpha.services![0]!.policies = [
      {
        name: 'url_rewriting',
        enabled: true,
        configuration: { commands: [{ op: 'sub', regex: '(', replace: '' }] },
      },
    ];
    const err = await applyConfig(bed.store.db, doc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigValidationError);
    const i = doc.tenants!.indexOf(alpha);
    expect((err as ConfigValidationError).faults.map((f) => f.path)).toEqual([
      `tenants[${i}].services[0].policies[0].configuration.commands[0].regex`,
    ]);
  });

  it('a served service compiles its stored chain', async () => {
    const doc = await exportConfig(bed.store.db);
    const alpha = doc.tenants!.find((t) => t.name === 'alpha')!;
    Object.assign(alpha.services![0]!, {
      hosts: ['alpha.test'],
      upstream: 'http://127.0.0.1:9',
      policies: EVERY_POLICY,
    });
    await applyConfig(bed.store.db, doc);
    const cfg = await loadGatewayConfig(bed.store.db);
    expect(cfg.services.get('7000')?.chain?.names).toContain('rate_limit');
  });
});
