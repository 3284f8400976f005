// The config feed gateways read: GET /admin/api/gateway/snapshot (platform token), its ETag, 304 on
// If-None-Match, the long-poll that answers as soon as the version changes, and its OpenAPI entry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/store/digest.js';
import { sqlCases } from '../config/sql-cases.js';
import { type Bed, openBed } from './catalog-support.js';

const PLATFORM = 'platform-token-for-the-snapshot-test';

for (const c of sqlCases) {
  describe.skipIf(!c.available)(`gateway snapshot feed (${c.name})`, () => {
    let bed: Bed;
    beforeAll(async () => {
      bed = await openBed(c);
      await bed.store.db
        .insertInto('admin_tokens')
        .values({
          id: 'tok-platform',
          tenant_id: null,
          name: 'platform',
          token_hash: sha256(PLATFORM),
          scopes: JSON.stringify(['management', 'analytics', 'billing']),
          read_only: 1,
          expires_at: null,
          position: 0,
          created_at: Date.now(),
        })
        .execute();
      // Gateways serve services with hosts and an upstream.
      const r = await bed.call('PATCH', '/services/7000', {
        body: { upstream: 'http://127.0.0.1:9', hosts: ['alpha.example.com'] },
      });
      expect(r.status).toBe(200);
    });
    afterAll(() => bed.close());

    const snapshot = (headers: Record<string, string> = {}, query = '') =>
      bed.call('GET', `/gateway/snapshot${query}`, { token: PLATFORM, headers });

    it('answers the snapshot with an ETag to a platform token (read-only is enough), never to a tenant', async () => {
      const r = await snapshot();
      expect(r.status).toBe(200);
      expect(r.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.json.version).toMatch(/:\d+/);
      const svc = r.json.services.find((s: { id: string }) => s.id === '7000');
      expect(svc).toMatchObject({
        systemName: 'api',
        providerKey: 'alpha-pk',
        upstream: 'http://127.0.0.1:9',
        hosts: ['alpha.example.com'],
      });
      expect(svc.mappingRules).toEqual([expect.objectContaining({ pattern: '/items', delta: 1 })]);
      // Services without hosts are not the gateways' business.
      expect(r.json.services.some((s: { id: string }) => s.id === '7001')).toBe(false);
      const tenant = await bed.call('GET', '/gateway/snapshot');
      expect(tenant.status).toBe(403);
    });

    it('answers 304 to If-None-Match with the current ETag, 200 to any other', async () => {
      const first = await snapshot();
      const etag = String(first.headers.etag);
      const same = await snapshot({ 'if-none-match': etag });
      expect(same.status).toBe(304);
      expect(same.headers.etag).toBe(etag);
      expect(same.json).toBeNull();
      expect((await snapshot({ 'if-none-match': `"other", ${etag}` })).status).toBe(304);
      expect((await snapshot({ 'if-none-match': '"other"' })).status).toBe(200);
      // No change within the wait: 304 after it.
      expect((await snapshot({ 'if-none-match': etag }, '?wait=1')).status).toBe(304);
      expect((await snapshot({}, '?wait=31')).status).toBe(400);
    });

    it('holds a request with ?wait until the version changes, then answers the new snapshot', async () => {
      const first = await snapshot();
      const etag = String(first.headers.etag);
      const held = snapshot({ 'if-none-match': etag }, '?wait=20');
      await new Promise((r) => setTimeout(r, 300));
      const rule = await bed.call('POST', '/services/7000/mapping_rules', {
        body: {
          method: 'GET',
          pattern: '/fresh',
          metric_id: first.json.services.find((s: { id: string }) => s.id === '7000').metrics[0].id,
        },
      });
      expect(rule.status).toBe(201);
      const r = await held;
      expect(r.status).toBe(200);
      expect(r.headers.etag).not.toBe(etag);
      expect(r.json.version).not.toBe(first.json.version);
      const svc = r.json.services.find((s: { id: string }) => s.id === '7000');
      expect(svc.mappingRules.map((m: { pattern: string }) => m.pattern)).toContain('/fresh');
    });

    it('is in the OpenAPI document', async () => {
      const doc = await bed.call('GET', '/openapi.json');
      const op = doc.json.paths['/admin/api/gateway/snapshot']?.get;
      expect(op?.operationId).toBe('getGatewaySnapshot');
      expect(op.parameters.map((p: { name: string }) => p.name)).toEqual(['wait']);
    });
  });
}
