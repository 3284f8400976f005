/** Conformance: the `3scale-options` extensions (§4) and limit headers (§5.3), plus the HTTP surface (§2). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackendHandler } from '../../src/backend/http.js';
import type { CounterStore } from '../../src/store/ports.js';
import { errorBody, get, type Harness, PROLOG, request, startHarness, T0, XML } from './support/fixture.js';

const AUTH = '/transactions/authorize.xml';
const AUTHREP = '/transactions/authrep.xml';
const A = 'provider_key=pk1&app_id=app1&app_key=k1&referrer=*';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});
const opt = (v: string) => ({ '3scale-options': v });

describe('3scale-options', () => {
  it('rejection_reason_header names the denial code, only on 409', async () => {
    const r = await get(
      h,
      `${AUTH}?provider_key=pk1&app_id=app1&app_key=bad&referrer=*`,
      opt('rejection_reason_header=1'),
    );
    expect(r.status).toBe(409);
    expect(r.headers['3scale-rejection-reason']).toBe('application_key_invalid');
    const ok = await get(h, `${AUTH}?${A}`, opt('rejection_reason_header=1'));
    expect(ok.headers['3scale-rejection-reason']).toBeUndefined();
    const off = await get(h, `${AUTH}?provider_key=pk1&app_id=app1&app_key=bad&referrer=*`);
    expect(off.headers['3scale-rejection-reason']).toBeUndefined();
    const s = await get(
      h,
      `${AUTH}?provider_key=pk1&service_id=svc-susp&app_id=susp-app`,
      opt('rejection_reason_header=1'),
    );
    expect(s.headers['3scale-rejection-reason']).toBe('service_not_active');
  });

  it('limit_headers: day limit 100 with predicted usage 10 → remaining 10', async () => {
    const r = await get(
      h,
      `${AUTH}?provider_key=pk1&service_id=svc-uk&user_key=ukday&usage[hits]=10`,
      opt('limit_headers=1'),
    );
    expect(r.status).toBe(200);
    expect(r.headers['3scale-limit-remaining']).toBe('10');
    // 13:45:30 → midnight: 10 h 14 min 30 s
    expect(r.headers['3scale-limit-reset']).toBe(String(10 * 3600 + 14 * 60 + 30));
    expect(r.headers['3scale-limit-max-value']).toBe('100');
  });

  it('limit_headers: hour limit 10 at 22:59:59 with usage 11 → remaining 0, reset 1, max 10', async () => {
    h.setNow(Date.UTC(2010, 4, 15, 22, 59, 59));
    try {
      const r = await get(
        h,
        `${AUTHREP}?provider_key=pk1&service_id=svc-uk&user_key=ukhour&usage[hits]=11`,
        opt('limit_headers=1'),
      );
      expect(r.status).toBe(409);
      expect(r.headers['3scale-limit-remaining']).toBe('0');
      expect(r.headers['3scale-limit-reset']).toBe('1');
      expect(r.headers['3scale-limit-max-value']).toBe('10');
    } finally {
      h.setNow(T0);
    }
  });

  it('limit_headers: no usage or no limits → -1/-1 and no max; never on other errors', async () => {
    const r = await get(h, `${AUTH}?provider_key=pk1&app_id=app-nokeys`, opt('limit_headers=1'));
    expect(r.headers['3scale-limit-remaining']).toBe('-1');
    expect(r.headers['3scale-limit-reset']).toBe('-1');
    expect(r.headers['3scale-limit-max-value']).toBeUndefined();
    const bare = await get(
      h,
      `${AUTH}?provider_key=pk1&service_id=svc-uk&user_key=ukday`,
      opt('limit_headers=1'),
    );
    expect(bare.headers['3scale-limit-remaining']).toBe('-1');
    const denied = await get(
      h,
      `${AUTH}?provider_key=pk1&app_id=app1&app_key=bad&usage[hits]=1`,
      opt('limit_headers=1'),
    );
    expect(denied.status).toBe(409);
    expect(denied.headers['3scale-limit-remaining']).toBeUndefined();
    const err = await get(h, `${AUTH}?provider_key=pk1&app_id=nope`, opt('limit_headers=1'));
    expect(err.headers['3scale-limit-remaining']).toBeUndefined();
    // flags are on only for exactly "1"
    const t = await get(h, `${AUTH}?provider_key=pk1&app_id=app-nokeys`, opt('limit_headers=true'));
    expect(t.headers['3scale-limit-remaining']).toBeUndefined();
  });

  it('limit_headers after an authrep count the request itself', async () => {
    const r = await get(
      h,
      `${AUTHREP}?provider_key=pk1&service_id=svc-uk&user_key=ukday&usage[hits]=30`,
      opt('limit_headers=1'),
    );
    expect(r.status).toBe(200);
    // remaining 70 after this call, 30 per call → 2 more such calls
    expect(r.headers['3scale-limit-remaining']).toBe('2');
  });

  it('hierarchy lists each usage report metric with its direct children', async () => {
    const r = await get(h, `${AUTH}?${A}`, opt('hierarchy=1'));
    expect(r.body).toMatch(/<\/usage_reports><hierarchy>/);
    expect(
      r.body.endsWith(
        '<hierarchy><metric name="hits" children="list get"/><metric name="hits" children="list get"/><metric name="get" children="get_detail"/><metric name="get_detail" children=""/><metric name="list" children=""/></hierarchy></status>',
      ),
    ).toBe(true);
    const none = await get(h, `${AUTH}?provider_key=pk1&app_id=app-nokeys`, opt('hierarchy=1'));
    expect(none.body).toBe(
      `${PROLOG}<status><authorized>true</authorized><plan></plan><hierarchy></hierarchy></status>`,
    );
  });

  it('list_app_keys shows the keys (escaped), also when the key is invalid and in user_key mode', async () => {
    const keys = '<app_keys app="app1" svc="svc-ak"><key id="k1"/><key id="k&quot;2"/></app_keys>';
    const r = await get(h, `${AUTH}?${A}`, opt('list_app_keys=1'));
    expect(r.body.endsWith(`</usage_reports>${keys}</status>`)).toBe(true);
    const bad = await get(
      h,
      `${AUTH}?provider_key=pk1&app_id=app1&app_key=x&referrer=*`,
      opt('list_app_keys=1&hierarchy=1'),
    );
    expect(bad.status).toBe(409);
    expect(bad.body).toContain(`${keys}<hierarchy>`);
    const uk = await get(
      h,
      `${AUTH}?provider_key=pk1&service_id=svc-uk&user_key=ukday`,
      opt('list_app_keys=1'),
    );
    expect(uk.body).toContain('<app_keys app="uk-day" svc="svc-uk"></app_keys>');
  });

  it('flat_usage: no roll-up to the parents (checks and counts)', async () => {
    const r = await get(
      h,
      `${AUTHREP}?provider_key=pk1&app_id=app-week&referrer=*&usage[get_detail]=4`,
      opt('flat_usage=1'),
    );
    expect(r.status).toBe(200);
    expect(r.body).toContain(
      '<usage_report metric="hits" period="week"><period_start>2010-05-10 00:00:00 +0000</period_start><period_end>2010-05-17 00:00:00 +0000</period_end><max_value>50</max_value><current_value>0</current_value>',
    );
    const rolled = await get(h, `${AUTHREP}?provider_key=pk1&app_id=app-week&referrer=*&usage[get_detail]=4`);
    expect(rolled.body).toContain('<max_value>50</max_value><current_value>4</current_value>');
  });

  it('no_body (header or URL): empty bodies for status and errors, kept for bad_request / not_valid_data', async () => {
    const ok = await get(h, `${AUTH}?${A}`, opt('no_body=1'));
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('');
    expect(ok.headers['content-type']).toBe(XML);
    const den = await get(h, `${AUTH}?provider_key=pk1&app_id=app1&app_key=bad&referrer=*&no_body=true`);
    expect(den.status).toBe(409);
    expect(den.body).toBe('');
    const err = await get(h, `${AUTH}?provider_key=pk1&app_id=nope&no_body=1`);
    expect(err.status).toBe(404);
    expect(err.body).toBe('');
    const utf = await get(h, `${AUTH}?provider_key=pk1&app_id=%C3%28`, opt('no_body=1'));
    expect(utf.body).toBe(errorBody('not_valid_data', 'all data must be valid UTF8'));
    for (const v of ['0', 'false']) {
      expect((await get(h, `${AUTH}?${A}&no_body=${v}`)).body).not.toBe('');
    }
  });
});

describe('HTTP surface', () => {
  it('CORS headers on every answer; CSP only on normal answers', async () => {
    for (const path of [`${AUTH}?${A}`, `${AUTH}?provider_key=pk1&app_id=nope`, '/nothing']) {
      const r = await get(h, path);
      expect(r.headers['access-control-allow-origin']).toBe('*');
      expect(r.headers['access-control-expose-headers']).toBe('ETag, Link, 3scale-rejection-reason');
    }
    expect((await get(h, `${AUTH}?${A}`)).headers['content-security-policy']).toBe("default-src 'self'");
    expect(
      (await get(h, `${AUTH}?provider_key=pk1&app_id=nope`)).headers['content-security-policy'],
    ).toBeUndefined();
  });

  it('OPTIONS preflight on any path', async () => {
    for (const path of ['/transactions/authrep.xml', '/whatever']) {
      const r = await request(h.url, 'OPTIONS', path);
      expect(r.status).toBe(204);
      expect(r.headers['access-control-max-age']).toBe('86400');
      expect(r.headers['access-control-allow-methods']).toBe('GET, POST, PATCH, PUT, DELETE');
      expect(r.headers['access-control-allow-headers']).toContain('3scale-options');
      expect(r.headers['access-control-allow-origin']).toBe('*');
    }
  });

  it('/status, /check.txt, HEAD /available', async () => {
    const s = await get(h, '/status');
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('application/json');
    expect(JSON.parse(s.body)).toEqual({ status: 'ok', version: { backend: '3.4.3-test' } });
    const c = await get(h, '/check.txt');
    expect(c.body).toBe('ok');
    expect(c.headers['content-type']).toBe('text/plain');
    const a = await request(h.url, 'HEAD', '/available');
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe(XML);
  });

  it('unknown routes and methods: 404 with an empty body and the XML type', async () => {
    for (const [m, p] of [
      ['GET', '/transactions.xml'],
      ['POST', '/foo.html'],
      ['POST', AUTH],
      ['GET', '/available'],
      ['DELETE', '/transactions/authrep.xml'],
    ] as const) {
      const r = await request(h.url, m, p);
      expect(r.status).toBe(404);
      expect(r.body).toBe('');
      expect(r.headers['content-type']).toBe(XML);
    }
  });

  it('HEAD on an auth endpoint answers the status without a body', async () => {
    const r = await request(h.url, 'HEAD', `${AUTH}?${A}`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
  });

  it('a failing counter store answers 503 store_unavailable and the server stays up', async () => {
    const broken: CounterStore = {
      execute: () => Promise.reject(new Error('down')),
      read: () => Promise.reject(new Error('down')),
      close: async () => undefined,
    };
    const handler = createBackendHandler({ ...h.deps, counters: broken });
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await request(url, 'GET', `${AUTHREP}?${A}&usage[hits]=1`);
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toBe(XML);
      expect(r.body).toBe(errorBody('store_unavailable', 'the usage store is unavailable, retry later'));
      expect((await request(url, 'GET', `${AUTH}?${A}`)).status).toBe(503);
      expect((await request(url, 'GET', '/status')).status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await handler.close();
    }
  });
});
