/** Conformance: POST /transactions.xml (§2.3 sync errors, 202) and the report worker (async part). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReportBatchPayload } from '../../src/backend/report.js';
import {
  parseReportTimestamp,
  processReportBatch,
  runReportWorkerOnce,
} from '../../src/backend/report-worker.js';
import { counterKey } from '../../src/domain/counters.js';
import { windowStart } from '../../src/domain/periods.js';
import {
  errorBody,
  get,
  type Harness,
  postReport,
  request,
  startHarness,
  T0,
  XML,
} from './support/fixture.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const hitsHour = (app: string, t: number, svc = 'svc-ak') =>
  counterKey(svc, app, 'm-hits', 'hour', windowStart('hour', t));

async function work(): Promise<void> {
  await runReportWorkerOnce(h.deps, 'w1', 100, 0);
}

describe('report: synchronous errors', () => {
  const cases: [string, string, number, string, string?][] = [
    [
      'provider_key=pk1&transactions[0][app_id]=a',
      'content_type_invalid',
      400,
      'invalid Content-Type: text/plain',
      'text/plain',
    ],
    [
      'transactions[0][app_id]=%FF',
      'provider_key_or_service_token_required',
      403,
      'Provider key or service token are required',
    ],
    ['service_token=tok-ak', 'service_id_missing', 422, 'Service ID is missing'],
    [
      'service_token=bad&service_id=svc-ak',
      'service_token_invalid',
      403,
      'service token "bad" or service id "svc-ak" is invalid',
    ],
    ['provider_key=pk1&transactions[0][app_id]=%FF', 'not_valid_data', 422, 'all data must be valid UTF8'],
    ['provider_key=pk1', 'transactions_is_blank', 400, 'transactions parameter is blank'],
    ['provider_key=pk1&transactions=', 'transactions_is_blank', 400, 'transactions parameter is blank'],
    [
      'provider_key=pk1&transactions=abc',
      'transactions_format_invalid',
      400,
      'transactions format is invalid',
    ],
    [
      'provider_key=pk1&transactions[]=1',
      'transactions_format_invalid',
      400,
      'transactions format is invalid',
    ],
    [
      'provider_key=pk1&transactions[0]=x',
      'transactions_has_nil_transaction',
      400,
      'transactions has a nil transaction',
    ],
    [
      'provider_key=pk1&transactions[0][user_id]=u',
      'end_users_no_longer_supported',
      400,
      'End-users are no longer supported, do not specify the user_id parameter',
    ],
    [
      'provider_key=nope&transactions[0][app_id]=a',
      'provider_key_invalid_or_service_missing',
      403,
      'provider key "nope" invalid and/or service ID missing',
    ],
    [
      'provider_key=pk1&service_id=zz&transactions[0][app_id]=a',
      'service_id_invalid',
      403,
      'service id "zz" is invalid',
    ],
    [
      'provider_key=pk1&transactions[0][app_id]=a&transactions[]=1',
      'bad_request',
      400,
      'request contains syntax errors, should not be repeated without modification',
    ],
    [
      'provider_key=pk1&transactions[0][app_id]=%',
      'bad_request',
      400,
      'Invalid query parameters: invalid %-encoding',
    ],
  ];
  for (const [body, code, status, message, ct] of cases) {
    it(`${body} → ${status} ${code}`, async () => {
      const r = await postReport(h, body, ct);
      expect(r.status).toBe(status);
      expect(r.headers['content-type']).toBe(XML);
      expect(r.body).toBe(errorBody(code, message));
    });
  }

  it('no Content-Type is read as a form; multipart works too', async () => {
    expect(
      (
        await postReport(
          h,
          'provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][hits]=1',
          '',
        )
      ).status,
    ).toBe(202);
    const b = 'XyZ';
    const part = (n: string, v: string) =>
      `--${b}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`;
    const body = `${part('provider_key', 'pk1')}${part('transactions[0][app_id]', 'app1')}${part('transactions[0][usage][hits]', '2')}--${b}--\r\n`;
    const r = await postReport(h, body, `multipart/form-data; boundary=${b}`);
    expect(r.status).toBe(202);
    await work();
    expect(await h.counters.read([hitsHour('app1', T0)])).toEqual([3]);
  });
});

describe('report: accepted batches and the worker', () => {
  it('202 with an empty body; counts become visible to authorize', async () => {
    const r = await postReport(
      h,
      'provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][get_detail]=2&transactions[1][app_id]=app-nokeys&transactions[1][usage][hits]=5',
    );
    expect(r.status).toBe(202);
    expect(r.body).toBe('');
    expect(r.headers['content-type']).toBe(XML);
    // the sync part only queues
    const before = await get(
      h,
      '/transactions/authorize.xml?provider_key=pk1&app_id=app1&app_key=k1&referrer=*',
    );
    expect(before.body).toContain('<max_value>3</max_value><current_value>0</current_value>');
    await work();
    const after = await get(
      h,
      '/transactions/authorize.xml?provider_key=pk1&app_id=app1&app_key=k1&referrer=*',
    );
    expect(after.body).toContain('<max_value>3</max_value><current_value>2</current_value>');
    expect(after.body).toContain('<max_value>100</max_value><current_value>2</current_value>');
    expect(await h.counters.read([hitsHour('app-nokeys', T0)])).toEqual([5]);
    const uk = await postReport(
      h,
      'provider_key=pk1&service_id=svc-uk&transactions[0][user_key]=uk1&transactions[0][usage][hits]=5',
    );
    expect(uk.status).toBe(202);
    await work();
    expect(await h.counters.read([hitsHour('uk-app', T0, 'svc-uk')])).toEqual([5]);
  });

  it('limits are not enforced on report; zero usages are dropped before queueing', async () => {
    await postReport(h, 'provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][list]=4');
    await postReport(h, 'provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][hits]=0');
    await work();
    expect(
      await h.counters.read([counterKey('svc-ak', 'app1', 'm-list', 'month', windowStart('month', T0))]),
    ).toEqual([4]);
    const reports = await h.usageLog.read('reports', 'probe', 'p', 100, 0);
    expect(reports).toHaveLength(1);
  });

  it('timestamps: Unix seconds and dates with offsets land in their windows', async () => {
    const ts = [
      ['1273929600', Date.UTC(2010, 4, 15, 13, 20)], // 13:20 UTC as seconds
      ['2010-05-15 14:10:00 +0200', Date.UTC(2010, 4, 15, 12, 10)],
      ['2010-05-15 10:05:00 -02:00', Date.UTC(2010, 4, 15, 12, 5)],
      ['2010-05-15 11:00:00 UTC', Date.UTC(2010, 4, 15, 11)],
    ] as const;
    const body = ts.map(
      ([t], i) =>
        `transactions[${i}][app_id]=app-nokeys&transactions[${i}][usage][bytes]=1&transactions[${i}][timestamp]=${encodeURIComponent(t)}`,
    );
    expect((await postReport(h, `provider_key=pk1&${body.join('&')}`)).status).toBe(202);
    await work();
    const key = (p: 'hour' | 'day', t: number) =>
      counterKey('svc-ak', 'app-nokeys', 'm-bytes', p, windowStart(p, t));
    // 11:00's hour window has expired (kept 1 h past its end), so only its day counts it
    expect(
      await h.counters.read([
        key('hour', Date.UTC(2010, 4, 15, 13)),
        key('hour', Date.UTC(2010, 4, 15, 12)),
        key('day', T0),
      ]),
    ).toEqual([1, 2, 4]);
  });

  it('too old / too new / unknown app or metric go to the error log and nothing of the batch counts', async () => {
    const bad = [
      [
        'transactions[1][timestamp]=2010-05-14 13:45:29',
        'transaction_timestamp_too_old',
        'reporting transactions older than 86400 seconds is not allowed',
      ],
      [
        'transactions[1][timestamp]=0',
        'transaction_timestamp_too_old',
        'reporting transactions older than 86400 seconds is not allowed',
      ],
      [
        'transactions[1][timestamp]=2010-05-15 16:45:31 %2B0200',
        'transaction_timestamp_too_new',
        'reporting transactions more than 3600 seconds in the future is not allowed',
      ],
      ['transactions[1][usage][nope]=1', 'metric_invalid', 'metric "nope" is invalid'],
      [
        'transactions[1][usage][hits]=x1',
        'usage_value_invalid',
        'usage value "x1" for metric "hits" is invalid',
      ],
      ['transactions[1][app_id]=ghost', 'application_not_found', 'application with id="ghost" was not found'],
      ['transactions[1][user_key]=nobody', 'user_key_invalid', 'user key "nobody" is invalid'],
      [
        'transactions[1][user_key]=uk1&transactions[1][app_id]=app1',
        'authentication_error',
        'either app_id or user_key is allowed, not both',
      ],
    ] as const;
    for (const [extra, code, message] of bad) {
      const second =
        extra.includes('[app_id]') || extra.includes('[user_key]') ? '' : 'transactions[1][app_id]=app1&';
      const usage = extra.includes('[usage]') ? '' : '&transactions[1][usage][hits]=1';
      const body = `provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][hits]=1&${second}${extra}${usage}`;
      expect((await postReport(h, body)).status).toBe(202);
      await work();
      const { errors } = await h.errorLog.list('svc-ak', 0, 1);
      expect(errors[0]).toMatchObject({ code, message });
      expect(await h.counters.read([hitsHour('app1', T0)])).toEqual([0]);
    }
    // the edges themselves are accepted: exactly 24 h back and 1 h ahead
    const edges =
      'transactions[0][timestamp]=2010-05-14 13:45:30&transactions[1][app_id]=app1&transactions[1][usage][hits]=1&transactions[1][timestamp]=2010-05-15 14:45:30';
    await postReport(
      h,
      `provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][hits]=1&${edges}`,
    );
    await work();
    const dayKey = (t: number) => counterKey('svc-ak', 'app1', 'm-hits', 'day', windowStart('day', t));
    expect(
      await h.counters.read([dayKey(Date.UTC(2010, 4, 14)), hitsHour('app1', Date.UTC(2010, 4, 15, 14))]),
    ).toEqual([1, 1]);
  });

  it('a batch delivered again (not acked before a crash) is counted once', async () => {
    await postReport(
      h,
      'provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][hits]=3&transactions[1][app_id]=app-nokeys&transactions[1][usage][hits]=1',
    );
    const [d] = await h.usageLog.read('reports', 'counters', 'w1', 10, 0);
    const payload = d!.record.payload as ReportBatchPayload;
    const first = await processReportBatch(h.deps, payload);
    expect(first).toEqual({ status: 'counted', apps: 2, duplicates: 0 });
    // crash before the ack: the same record again, through the worker loop this time
    const again = await processReportBatch(h.deps, payload);
    expect(again).toEqual({ status: 'counted', apps: 2, duplicates: 2 });
    expect(await h.counters.read([hitsHour('app1', T0)])).toEqual([3]);
  });

  it('the worker acks what it processed', async () => {
    await postReport(h, 'provider_key=pk1&transactions[0][app_id]=app1&transactions[0][usage][hits]=1');
    await work();
    await work();
    expect(await h.counters.read([hitsHour('app1', T0)])).toEqual([1]);
    const left = await h.usageLog.read('reports', 'counters', 'w2', 10, 0);
    expect(left).toHaveLength(0);
  });

  it('query-string credentials are merged with the body', async () => {
    const r = await request(h.url, 'POST', '/transactions.xml?provider_key=pk1', {
      body: 'transactions[0][app_id]=app1&transactions[0][usage][hits]=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    });
    expect(r.status).toBe(202);
  });
});

describe('parseReportTimestamp', () => {
  it('parses seconds, offsets, zones and falls back on garbage', () => {
    expect(parseReportTimestamp('10', 5)).toBe(10_000);
    expect(parseReportTimestamp('2010-04-22 23:55:45 +0200', 0)).toBe(Date.UTC(2010, 3, 22, 21, 55, 45));
    expect(parseReportTimestamp('2010-04-22T23:55:45-02:00', 0)).toBe(Date.UTC(2010, 3, 23, 1, 55, 45));
    expect(parseReportTimestamp('2010-04-22 23:55:45 UTC', 0)).toBe(Date.UTC(2010, 3, 22, 23, 55, 45));
    expect(parseReportTimestamp('2010-04-22', 0)).toBe(Date.UTC(2010, 3, 22));
    expect(parseReportTimestamp('', 42)).toBe(42);
    expect(parseReportTimestamp('not a date', 42)).toBe(42);
  });
});
