/** Conformance: the auth endpoints' processing order (§2.2), error catalogue (§6) and exact bodies (§3). */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeUsageRecord } from '../../src/backend/usage-columns.js';
import { errorBody, get, type Harness, PROLOG, startHarness, XML } from './support/fixture.js';

const AUTH = '/transactions/authorize.xml';
const AUTHREP = '/transactions/authrep.xml';
const OAUTH = '/transactions/oauth_authorize.xml';

/** One usage report element as the server writes it. */
function ur(
  metric: string,
  period: string,
  max: number,
  cur: number,
  window?: [string, string],
  exceeded = false,
) {
  const dates = window
    ? `<period_start>${window[0]} +0000</period_start><period_end>${window[1]} +0000</period_end>`
    : '';
  return `<usage_report metric="${metric}" period="${period}"${exceeded ? ' exceeded="true"' : ''}>${dates}<max_value>${max}</max_value><current_value>${cur}</current_value></usage_report>`;
}
const DAY: [string, string] = ['2010-05-15 00:00:00', '2010-05-16 00:00:00'];
const MINUTE: [string, string] = ['2010-05-15 13:45:00', '2010-05-15 13:46:00'];
const HOUR: [string, string] = ['2010-05-15 13:00:00', '2010-05-15 14:00:00'];
const MONTH: [string, string] = ['2010-05-01 00:00:00', '2010-06-01 00:00:00'];

/** Reports of plan p-basic with the given current values [hitsEternity, hitsDay, getMinute, detailHour, listMonth]. */
function basicReports(c: number[] = [0, 0, 0, 0, 0]): string {
  return `<usage_reports>${ur('hits', 'eternity', 1000, c[0]!)}${ur('hits', 'day', 100, c[1]!, DAY)}${ur(
    'get',
    'minute',
    5,
    c[2]!,
    MINUTE,
  )}${ur('get_detail', 'hour', 3, c[3]!, HOUR)}${ur('list', 'month', 0, c[4]!, MONTH)}</usage_reports>`;
}
const PLAN = '<plan>Basic &amp; &lt;Co&gt;</plan>';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const APP1 = 'provider_key=pk1&service_id=svc-ak&app_id=app1&app_key=k1&referrer=www.example.com';

describe('processing order (§2.2) — which error wins', () => {
  const cases: [string, string, number, string | null][] = [
    // 1. invalid UTF-8 beats everything, even a missing provider key
    [`${AUTH}?app_id=%FF`, 'not_valid_data', 422, 'all data must be valid UTF8'],
    // 2. provider key resolution
    [
      `${AUTH}?app_id=x`,
      'provider_key_or_service_token_required',
      403,
      'Provider key or service token are required',
    ],
    [`${AUTH}?service_token=tok-ak&app_id=x`, 'service_id_missing', 422, 'Service ID is missing'],
    [
      `${AUTH}?service_token=nope&service_id=svc-ak`,
      'service_token_invalid',
      403,
      'service token "nope" or service id "svc-ak" is invalid',
    ],
    [
      `${AUTH}?service_token=tok-ak&service_id=svc-uk`,
      'service_token_invalid',
      403,
      'service token "tok-ak" or service id "svc-uk" is invalid',
    ],
    // 3. user_id beats the service load
    [
      `${AUTH}?provider_key=nope&user_id=u`,
      'end_users_no_longer_supported',
      400,
      'End-users are no longer supported, do not specify the user_id parameter',
    ],
    // 5. service load
    [
      `${AUTH}?provider_key=nope&app_id=x`,
      'provider_key_invalid_or_service_missing',
      403,
      'provider key "nope" invalid and/or service ID missing',
    ],
    [
      `${AUTH}?provider_key=pk2&app_id=x`,
      'provider_key_invalid_or_service_missing',
      403,
      'provider key "pk2" invalid and/or service ID missing',
    ],
    [
      `${AUTH}?provider_key=pk1&service_id=nope&app_id=x`,
      'service_id_invalid',
      403,
      'service id "nope" is invalid',
    ],
    [
      `${AUTH}?provider_key=pk1&service_id=svc-beta&app_id=x`,
      'service_id_invalid',
      403,
      'service id "svc-beta" is invalid',
    ],
    [
      `${AUTH}?provider_key=pk2&service_id=svc-ak&app_id=x`,
      'provider_key_invalid',
      403,
      'provider key "pk2" is invalid',
    ],
    [
      `${AUTH}?provider_key=nope&service_id=svc-ak&app_id=x`,
      'provider_key_invalid',
      403,
      'provider key "nope" is invalid',
    ],
    [
      `${AUTH}?provider_key=pk3&service_id=svc-ak&app_id=x`,
      'service_id_invalid',
      403,
      'service id "svc-ak" is invalid',
    ],
    // 6. oauth without app_id
    [
      `${OAUTH}?provider_key=pk1&service_id=svc-oidc&user_key=x`,
      'application_not_found',
      404,
      'application id is missing',
    ],
    // 7. both credentials
    [
      `${AUTH}?provider_key=pk1&service_id=svc-uk&app_id=a&user_key=b`,
      'authentication_error',
      403,
      'either app_id or user_key is allowed, not both',
    ],
    // 8. user_key mode
    [`${AUTH}?provider_key=pk1&service_id=svc-uk`, 'user_key_invalid', 403, 'user key is missing'],
    [
      `${AUTH}?provider_key=pk1&service_id=svc-uk&app_id=uk-app`,
      'user_key_invalid',
      403,
      'user key is missing',
    ],
    [
      `${AUTH}?provider_key=pk1&service_id=svc-uk&user_key=bad`,
      'user_key_invalid',
      403,
      'user key "bad" is invalid',
    ],
    [
      `${AUTH}?provider_key=pk1&service_id=svc-ak&user_key=uk1`,
      'application_not_found',
      404,
      'application id is missing',
    ],
    // 9. unknown app
    [
      `${AUTH}?provider_key=pk1&app_id=boo`,
      'application_not_found',
      404,
      'application with id="boo" was not found',
    ],
    // 12. usage errors once the validators passed
    [`${AUTH}?${APP1}&usage[nope]=1`, 'metric_invalid', 404, 'metric "nope" is invalid'],
    [
      `${AUTH}?${APP1}&usage[hits]=-1`,
      'usage_value_invalid',
      403,
      'usage value "-1" for metric "hits" is invalid',
    ],
    [
      `${AUTH}?${APP1}&usage[hits]=%20`,
      'usage_value_invalid',
      403,
      'usage value for metric "hits" can not be empty',
    ],
    [
      `${AUTH}?${APP1}&usage[nope]=x`,
      'usage_value_invalid',
      403,
      'usage value "x" for metric "nope" is invalid',
    ],
    [
      `${AUTH}?${APP1}&usage[hits]=%23%2355`,
      'usage_value_invalid',
      403,
      'usage value "##55" for metric "hits" is invalid',
    ],
    // parser faults
    [
      `${AUTH}?usage[]=1&usage[hits]=1`,
      'bad_request',
      400,
      'request contains syntax errors, should not be repeated without modification',
    ],
    [`${AUTH}?provider_key=%zz`, 'bad_request', 400, 'Invalid query parameters: invalid %-encoding'],
  ];
  for (const [path, code, status, message] of cases) {
    it(`${path} → ${status} ${code}`, async () => {
      const r = await get(h, path);
      expect(r.status).toBe(status);
      expect(r.headers['content-type']).toBe(XML);
      expect(r.body).toBe(errorBody(code, message!));
    });
  }

  it('4. usage that is not a hash → bare 403', async () => {
    for (const q of ['usage=', 'usage=1001', 'usage[]=1']) {
      const r = await get(h, `${AUTH}?provider_key=pk1&app_id=app1&${q}`);
      expect(r.status).toBe(403);
      expect(r.body).toBe('');
      expect(r.headers['content-type']).toBe(XML);
    }
  });

  it('service_token + service_id authenticates like the provider key', async () => {
    const r = await get(
      h,
      `${AUTH}?service_token=tok-ak&service_id=svc-ak&app_id=app1&app_key=k1&referrer=a.example.com`,
    );
    expect(r.status).toBe(200);
  });

  it('provider_key wins over a bad service token', async () => {
    const r = await get(
      h,
      `${AUTH}?provider_key=pk1&service_token=bad&service_id=svc-ak&app_id=app1&app_key=k1&referrer=*`,
    );
    expect(r.status).toBe(200);
  });

  it('whitespace-only ids count as absent; ids are trimmed', async () => {
    expect((await get(h, `${AUTH}?provider_key=%20&app_id=x`)).body).toContain(
      'provider_key_or_service_token_required',
    );
    const r = await get(
      h,
      `${AUTH}?provider_key=%20pk1%20&service_id=%20svc-ak&app_id=app1%20&app_key=k1&referrer=*`,
    );
    expect(r.status).toBe(200);
  });

  it('10. no_body: unknown metric is 404 before the validators (empty body)', async () => {
    const r = await get(h, `${AUTH}?provider_key=pk1&app_id=app1&app_key=WRONG&usage[nope]=1&no_body=1`);
    expect(r.status).toBe(404);
    expect(r.body).toBe('');
    const r2 = await get(h, `${AUTH}?provider_key=pk1&app_id=app1&app_key=WRONG&usage[nope]=1`);
    expect(r2.status).toBe(409);
  });

  it('errors that resolve to a service go to its error log', async () => {
    await get(h, `${AUTH}?provider_key=pk1&service_id=svc-uk&user_key=logged-bad`);
    await h.handler.errors.flush();
    const { errors } = await h.errorLog.list('svc-uk', 0, 10);
    expect(
      errors.some((e) => e.code === 'user_key_invalid' && e.message === 'user key "logged-bad" is invalid'),
    ).toBe(true);
  });
});

describe('validators (§2.2 step 11) and denials', () => {
  const deny = (reason: string, body = basicReports()) =>
    `${PROLOG}<status><authorized>false</authorized><reason>${reason}</reason>${PLAN}${body}</status>`;

  it('authorized: exact body with usage reports (dangling-metric limit skipped)', async () => {
    const r = await get(h, `${AUTH}?${APP1}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(XML);
    expect(r.headers['content-security-policy']).toBe("default-src 'self'");
    expect(r.body).toBe(`${PROLOG}<status><authorized>true</authorized>${PLAN}${basicReports()}</status>`);
  });

  it('Key: missing and wrong app_key', async () => {
    const base = 'provider_key=pk1&app_id=app1&referrer=www.example.com';
    const missing = await get(h, `${AUTH}?${base}`);
    expect(missing.status).toBe(409);
    expect(missing.body).toBe(deny('application key is missing'));
    const empty = await get(h, `${AUTH}?${base}&app_key=`);
    expect(empty.body).toBe(deny('application key is missing'));
    const wrong = await get(h, `${AUTH}?${base}&app_key=a%3Cb%22`);
    expect(wrong.body).toBe(deny('application key "a&lt;b"" is invalid'));
    const second = await get(h, `${AUTH}?${base}&app_key=k%222`);
    expect(second.status).toBe(200);
  });

  it('Key passes for apps without keys and in user_key mode', async () => {
    expect((await get(h, `${AUTH}?provider_key=pk1&app_id=app-nokeys`)).status).toBe(200);
    expect((await get(h, `${AUTH}?provider_key=pk1&service_id=svc-uk&user_key=uk1&app_key=zzz`)).status).toBe(
      200,
    );
  });

  it('Referrer: missing, not allowed, wildcard, exact, bypass', async () => {
    const base = 'provider_key=pk1&app_id=app1&app_key=k1';
    expect((await get(h, `${AUTH}?${base}`)).body).toBe(deny('referrer is missing'));
    expect((await get(h, `${AUTH}?${base}&referrer=evil.org`)).body).toBe(
      deny('referrer "evil.org" is not allowed'),
    );
    // anchored: a suffix after the pattern does not match
    expect((await get(h, `${AUTH}?${base}&referrer=a.example.com.evil`)).status).toBe(409);
    expect((await get(h, `${AUTH}?${base}&referrer=exact.org`)).status).toBe(200);
    expect((await get(h, `${AUTH}?${base}&referrer=*`)).status).toBe(200);
    // Key wins over Referrer
    expect((await get(h, `${AUTH}?provider_key=pk1&app_id=app1&app_key=bad`)).body).toContain(
      'application key "bad" is invalid',
    );
  });

  it('State, then ServiceState', async () => {
    const p = await get(h, `${AUTH}?provider_key=pk1&app_id=app-pending&referrer=*`);
    expect(p.status).toBe(409);
    expect(p.body).toBe(deny('application is not active'));
    const s = await get(h, `${AUTH}?provider_key=pk1&service_id=svc-susp&app_id=susp-app`);
    expect(s.body).toBe(deny('service is not active'));
  });

  it('an earlier denial skips usage parsing (no 4xx for a bad usage)', async () => {
    const r = await get(h, `${AUTH}?provider_key=pk1&service_id=svc-susp&app_id=susp-app&usage[nope]=x`);
    expect(r.status).toBe(409);
  });

  it('Limits: a 0-limit blocks usage but not a bare authorize', async () => {
    const r = await get(h, `${AUTH}?${APP1}&usage[list]=1`);
    expect(r.status).toBe(409);
    expect(r.body).toBe(deny('usage limits are exceeded'));
    expect((await get(h, `${AUTH}?${APP1}&usage[bytes]=1`)).status).toBe(200);
  });

  it('oauth_authorize: OauthSetting denies non-oidc services', async () => {
    const r = await get(h, `${OAUTH}?provider_key=pk1&app_id=app1&app_key=k1&referrer=*`);
    expect(r.status).toBe(409);
    expect(r.body).toBe(
      `${PROLOG}<status><authorized>false</authorized><reason>oauth is not enabled</reason><application><id>app1</id><key>k1</key><redirect_url>https://app.example.com/cb?a=1&amp;b=2</redirect_url></application>${PLAN}${basicReports()}</status>`,
    );
  });

  it('oauth_authorize: <application> section and redirect_uri naming', async () => {
    const base = `${OAUTH}?provider_key=pk1&service_id=svc-oidc&app_id=oidc-app`;
    const ok = await get(h, base);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe(
      `${PROLOG}<status><authorized>true</authorized><application><id>oidc-app</id><key>sec</key><redirect_url>https://cb.example/x</redirect_url></application>${PLAN}${basicReports()}</status>`,
    );
    const uri = await get(h, `${base}&redirect_uri=https://cb.example/x`);
    expect(uri.status).toBe(200);
    expect(uri.body).toContain('<redirect_uri>https://cb.example/x</redirect_uri></application>');
    const badUri = await get(h, `${base}&redirect_uri=https://evil/`);
    expect(badUri.status).toBe(409);
    expect(badUri.body).toContain('<reason>redirect_uri "https://evil/" is invalid</reason>');
    const badUrl = await get(h, `${base}&redirect_url=https://evil/&redirect_uri=https://cb.example/x`);
    expect(badUrl.body).toContain('<reason>redirect_url "https://evil/" is invalid</reason>');
    expect(badUrl.body).toContain('<redirect_url>https://cb.example/x</redirect_url>');
  });

  it('OauthKey: absent passes, empty fails, wrong fails, right passes', async () => {
    const base = `${OAUTH}?provider_key=pk1&service_id=svc-oidc&app_id=oidc-app`;
    expect((await get(h, `${base}&app_key=sec2`)).status).toBe(200);
    const empty = await get(h, `${base}&app_key=`);
    expect(empty.status).toBe(409);
    expect(empty.body).toContain('<reason>application key is missing</reason>');
    expect((await get(h, `${base}&app_key=nope`)).body).toContain(
      '<reason>application key "nope" is invalid</reason>',
    );
    // oidc service through the plain endpoint uses OauthKey too
    expect((await get(h, `${AUTH}?provider_key=pk1&service_id=svc-oidc&app_id=oidc-app`)).status).toBe(200);
    // oauth app without keys: an empty <key/>
    const nk = await get(h, `${OAUTH}?provider_key=pk1&service_id=svc-oidc&app_id=oidc-nokeys`);
    expect(nk.body).toBe(
      `${PROLOG}<status><authorized>true</authorized><application><id>oidc-nokeys</id><key></key><redirect_url></redirect_url></application><plan></plan></status>`,
    );
  });

  it('plan without limits: no usage_reports, empty plan element', async () => {
    const r = await get(h, `${AUTH}?provider_key=pk1&app_id=app-nokeys`);
    expect(r.body).toBe(`${PROLOG}<status><authorized>true</authorized><plan></plan></status>`);
  });

  it('week/year windows and eternity without dates', async () => {
    const r = await get(h, `${AUTH}?provider_key=pk1&app_id=app-week&referrer=*`);
    expect(r.body).toBe(
      `${PROLOG}<status><authorized>true</authorized><plan>Weekly</plan><usage_reports>${ur(
        'hits',
        'year',
        500,
        0,
        ['2010-01-01 00:00:00', '2011-01-01 00:00:00'],
      )}${ur('hits', 'week', 50, 0, ['2010-05-10 00:00:00', '2010-05-17 00:00:00'])}${ur('bytes', 'eternity', 20, 0)}</usage_reports></status>`,
    );
  });
});

describe('counting through authrep', () => {
  let c: Harness;
  beforeAll(async () => {
    c = await startHarness();
  });
  afterAll(async () => {
    await c.close();
  });
  const A = `provider_key=pk1&app_id=app1&app_key=k1&referrer=*`;

  it('rolls usage up a 3-level tree and shows stored + this request', async () => {
    const r = await get(c, `${AUTHREP}?${A}&usage[get_detail]=2`);
    expect(r.status).toBe(200);
    expect(r.body).toBe(
      `${PROLOG}<status><authorized>true</authorized>${PLAN}${basicReports([2, 2, 2, 2, 0])}</status>`,
    );
    const again = await get(c, `${AUTH}?${A}`);
    expect(again.body).toContain(basicReports([2, 2, 2, 2, 0]));
    // explicit parent value adds to the children's
    const r2 = await get(c, `${AUTHREP}?${A}&usage[hits]=3&usage[get]=1`);
    expect(r2.body).toContain(basicReports([6, 6, 3, 2, 0]));
  });

  it('denied authrep counts nothing and shows stored values with exceeded only when stored > max', async () => {
    const r = await get(c, `${AUTHREP}?${A}&usage[get_detail]=2`);
    expect(r.status).toBe(409);
    expect(r.body).toBe(
      `${PROLOG}<status><authorized>false</authorized><reason>usage limits are exceeded</reason>${PLAN}${basicReports([6, 6, 3, 2, 0])}</status>`,
    );
    // set get_detail above its max via #N (sets bypass nothing: #5 > 3 is denied)
    expect((await get(c, `${AUTHREP}?${A}&usage[get_detail]=%235`)).status).toBe(409);
    // exactly reaching the max is allowed
    expect((await get(c, `${AUTHREP}?${A}&usage[get_detail]=1`)).status).toBe(200);
  });

  it('#N sets and #0 deletes; the parent is set too', async () => {
    const r = await get(c, `${AUTHREP}?${A}&usage[hits]=%2350`);
    expect(r.status).toBe(200);
    expect(r.body).toContain(basicReports([50, 50, 4, 3, 0]));
    const z = await get(c, `${AUTHREP}?${A}&usage[get]=%230`);
    expect(z.status).toBe(200);
    expect(z.body).toContain(basicReports([0, 0, 0, 3, 0]));
    expect((await get(c, `${AUTH}?${A}`)).body).toContain(basicReports([0, 0, 0, 3, 0]));
  });

  it('exceeded="true" when stored > max (after a report-style set beyond the max)', async () => {
    // a set with flat usage is checked only on its own metric: hits #150 > 100 is denied …
    expect((await get(c, `${AUTHREP}?${A}&usage[hits]=%23150`)).status).toBe(409);
    // … so push the stored value over the max through the counters directly, as a report would
    await c.deps.counters.execute({
      keys: ['c:{svc-ak:app1}:m-hits:day:201005150000'],
      checks: [],
      writes: [{ key: 0, value: 150, set: true, expireAt: 0 }],
    });
    const r = await get(c, `${AUTH}?${A}`);
    expect(r.status).toBe(409);
    expect(r.body).toContain(
      `<usage_report metric="hits" period="day" exceeded="true"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>100</max_value><current_value>150</current_value></usage_report>`,
    );
    // a usage on another metric is still fine (only usage metrics are checked)
    expect((await get(c, `${AUTH}?${A}&usage[bytes]=1`)).status).toBe(200);
  });

  it('usage values of 0 and log[code] produce events; denied requests do not', async () => {
    await get(c, `${AUTHREP}?provider_key=pk1&app_id=app-nokeys&usage[bytes]=0&log[code]=200`);
    await get(c, `${AUTHREP}?provider_key=pk1&app_id=app-nokeys&usage[bytes]=7`);
    await get(c, `${AUTHREP}?provider_key=pk1&app_id=app-nokeys&usage[bytes]=0`);
    await c.handler.events.flush();
    const got = await c.usageLog.read('events', 'test', 'c1', 100, 0);
    const payloads = got.flatMap((d) => decodeUsageRecord(d.record));
    const mine = payloads.filter((p) => p.appId === 'app-nokeys');
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ usage: {}, responseCode: '200' });
    expect(mine[1]).toMatchObject({ usage: { 'm-bytes': 7 } });
  });

  it('period boundaries follow the clock (minute window resets)', async () => {
    const q = `${AUTHREP}?${A}&usage[get]=5`;
    c.setNow(Date.UTC(2010, 4, 15, 13, 50, 59));
    expect((await get(c, `${AUTHREP}?${A}&usage[hits]=%230`)).status).toBe(200);
    expect((await get(c, q)).status).toBe(200);
    expect((await get(c, q)).status).toBe(409);
    c.setNow(Date.UTC(2010, 4, 15, 13, 51, 0));
    expect((await get(c, q)).status).toBe(200);
  });
});
