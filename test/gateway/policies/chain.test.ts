// Every policy of the chain through real sockets: a gateway runtime on a node:http server, a real SQLite
// config store, strict authorization with real counters, and echoing upstreams.
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docOf, type Gateway, service, startGateway, Upstream } from './harness.js';

describe('policy chain (in-process gateway, real sockets)', () => {
  let a: Upstream;
  let b: Upstream;
  let gw: Gateway;
  let silent: net.Server;
  const silentSockets = new Set<net.Socket>();
  let doc: ReturnType<typeof docOf>;
  let services: Record<string, unknown>[];

  beforeAll(async () => {
    a = await new Upstream('a').start();
    b = await new Upstream('b').start();
    // Accepts TCP but never speaks TLS: an https upstream here never finishes connecting.
    silent = net.createServer((s) => {
      silentSockets.add(s);
      s.on('close', () => silentSockets.delete(s));
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const silentPort = (silent.address() as AddressInfo).port;
    services = [
      service('1', 'plain.test', a.url, []),
      service('2', 'cors.test', a.url, [
        {
          name: 'cors',
          configuration: {
            allow_origin: ['https://app.example.com', 'https://*.trusted.example'],
            allow_credentials: true,
            expose_headers: ['X-Upstream'],
            max_age: 300,
          },
        },
      ]),
      service(
        '3',
        'headers.test',
        a.url,
        [
          {
            name: 'headers',
            configuration: {
              request: [
                { op: 'set', header: 'X-Key', value: 'key-3' },
                { op: 'set', header: 'X-Api-Version', value: '2' },
                { op: 'push', header: 'X-Tags', value: 'b' },
                { op: 'add', header: 'X-Not-There', value: 'never' },
                { op: 'delete', header: 'X-Drop-Me' },
              ],
              response: [
                { op: 'set', header: 'X-Frame-Options', value: 'DENY' },
                { op: 'delete', header: 'X-Upstream' },
                { op: 'push', header: 'X-Multi', value: 'one' },
                { op: 'push', header: 'X-Multi', value: 'two' },
              ],
            },
          },
        ],
        { auth: { mode: 'user_key', location: 'header', param: 'X-Key' } },
      ),
      service(
        '4',
        'rewrite.test',
        a.url,
        [
          {
            name: 'url_rewriting',
            configuration: {
              commands: [
                { op: 'sub', regex: '^/v1/', replace: '/v2/', break: true },
                { op: 'gsub', regex: 'items', replace: 'never', methods: ['DELETE'] },
              ],
              query_args_commands: [
                { op: 'set', arg: 'version', value: '2' },
                { op: 'delete', arg: 'debug' },
                { op: 'push', arg: 'tag', value: 'x y' },
                { op: 'add', arg: 'absent', value: 'no' },
              ],
            },
          },
          // Routing after the rewrite sees the rewritten path.
          {
            name: 'routing',
            configuration: {
              rules: [
                { url: b.url, condition: { operations: [{ match: 'path', op: '==', value: '/v2/b' }] } },
              ],
            },
          },
        ],
        {
          mapping_rules: [
            { method: 'GET', pattern: '/v2/items', metric: 'hits' },
            { method: 'GET', pattern: '/v2/b', metric: 'hits' },
          ],
        },
      ),
      service('5', 'deny.test', a.url, [
        {
          name: 'ip_check',
          configuration: { check_type: 'deny', cidrs: ['10.0.0.0/8', '127.0.0.0/8', '::1'] },
        },
      ]),
      service('6', 'allow.test', a.url, [
        {
          name: 'ip_check',
          configuration: {
            check_type: 'allow',
            cidrs: ['192.0.2.0/24', '2001:db8::/32'],
            client_ip_sources: ['X-Forwarded-For', 'last_caller'],
            status: 451,
            error_msg: 'not from here',
          },
        },
      ]),
      service('7', 'rl.test', a.url, [
        {
          name: 'rate_limit',
          configuration: {
            fixed_window_limiters: [{ key: { by: 'credential' }, count: 3, window: 3600 }],
            token_bucket_limiters: [
              { name: 'client', key: { by: 'header', header: 'X-Client' }, rate: 0.01, burst: 2 },
            ],
          },
        },
      ]),
      service('8', 'rllog.test', a.url, [
        {
          name: 'rate_limit',
          configuration: {
            fixed_window_limiters: [{ count: 1, window: 3600 }],
            limits_exceeded_error: { error_handling: 'log' },
          },
        },
      ]),
      service('9', 'payload.test', a.url, [
        { name: 'payload_limits', configuration: { request: 100, response: 1000 } },
      ]),
      service('10', 'timeouts.test', a.url, [
        { name: 'upstream_connection', configuration: { read_timeout: 0.3 } },
      ]),
      service('11', 'connect.test', `https://127.0.0.1:${silentPort}`, [
        { name: 'upstream_connection', configuration: { connect_timeout: 0.3 } },
      ]),
      service('12', 'retry.test', a.url, [{ name: 'retry', configuration: { retries: 2 } }]),
      service('13', 'maint.test', a.url, [
        {
          name: 'maintenance_mode',
          configuration: {
            message: 'back soon',
            condition: { operations: [{ match: 'path', op: 'matches', value: '^/admin(/|$)' }] },
          },
        },
      ]),
      service('14', 'defaults.test', a.url, [
        { name: 'default_credentials', configuration: { auth_type: 'user_key', user_key: 'key-14' } },
      ]),
      service('15', 'routing.test', a.url, [
        {
          name: 'routing',
          configuration: {
            rules: [
              {
                url: b.url,
                condition: { operations: [{ match: 'header', header_name: 'X-Beta', op: '==', value: '1' }] },
              },
              {
                url: `${b.url}/base`,
                host_header: 'b.internal',
                condition: {
                  combine_op: 'or',
                  operations: [
                    { match: 'query_arg', query_arg_name: 'route', op: '==', value: 'b' },
                    { match: 'path', op: 'matches', value: '^/to-b/' },
                  ],
                },
              },
            ],
          },
        },
      ]),
      service('16', 'status.test', a.url, [
        { name: 'statuscode_overwrite', configuration: { http_statuses: [{ upstream: 503, gateway: 500 }] } },
      ]),
      service('17', 'logging.test', a.url, [
        {
          name: 'logging',
          configuration: { request_headers: ['X-Request-Id', 'X-Key'], response_headers: ['X-Upstream'] },
        },
      ]),
      service('19', 'retrytimeout.test', a.url, [
        { name: 'upstream_connection', configuration: { read_timeout: 0.3 } },
        { name: 'retry', configuration: { retries: 1, retry_on: ['timeout'] } },
      ]),
      service('18', 'disabled.test', a.url, [
        { name: 'maintenance_mode', enabled: false, configuration: {} },
      ]),
    ];
    doc = docOf(services);
    gw = await startGateway(doc);
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await a?.close();
    await b?.close();
    for (const s of silentSockets) s.destroy();
    silent?.close();
  });

  it('leaves a service without policies on the plain path', async () => {
    const r = await gw.send('/x?user_key=key-1', { host: 'plain.test' });
    expect(r.status).toBe(200);
    expect(gw.runtime.config.services.get('1')?.chain ?? null).toBeNull();
    expect(gw.runtime.config.services.get('18')?.chain ?? null).toBeNull(); // only disabled policies
    expect((await gw.send('/x?user_key=key-18', { host: 'disabled.test' })).status).toBe(200);
  });

  describe('cors', () => {
    it('answers a preflight itself, before credentials', async () => {
      const r = await gw.send('/items', {
        host: 'cors.test',
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'content-type, x-custom',
        },
      });
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(r.headers['access-control-allow-credentials']).toBe('true');
      expect(r.headers['access-control-allow-methods']).toBe('PUT');
      expect(r.headers['access-control-allow-headers']).toBe('content-type, x-custom');
      expect(r.headers['access-control-max-age']).toBe('300');
      expect(r.headers.vary).toBe('Origin');
      expect(a.seen.some((s) => s.method === 'OPTIONS')).toBe(false);
    });

    it('gives a preflight from another origin no permission', async () => {
      const r = await gw.send('/items', {
        host: 'cors.test',
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      });
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('sets the headers on proxied answers (over the upstream own) and on the gateway errors', async () => {
      const ok = await gw.send('/items?user_key=key-2', {
        host: 'cors.test',
        headers: { origin: 'https://api.trusted.example' },
      });
      expect(ok.status).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBe('https://api.trusted.example');
      expect(ok.headers['access-control-allow-credentials']).toBe('true');
      expect(ok.headers['access-control-expose-headers']).toBe('X-Upstream');
      expect(ok.headers.vary).toBe('Origin');
      const denied = await gw.send('/items', {
        host: 'cors.test',
        headers: { origin: 'https://app.example.com' },
      });
      expect(denied.status).toBe(401);
      expect(denied.headers['access-control-allow-origin']).toBe('https://app.example.com');
      // No Origin: no CORS headers of ours (the upstream's pass through untouched).
      const plain = await gw.send('/items?user_key=key-2', { host: 'cors.test' });
      expect(plain.headers['access-control-allow-origin']).toBe('https://upstream-says.example');
    });
  });

  it('headers: edits the request before credentials are read, and the response', async () => {
    const r = await gw.send('/h', {
      host: 'headers.test',
      headers: { 'x-tags': 'a', 'x-drop-me': 'secret' },
    });
    expect(r.status).toBe(200);
    const seen = r.json();
    expect(seen.headers['x-key']).toBe('key-3'); // set by the policy, then authorized with it
    expect(seen.headers['x-api-version']).toBe('2');
    expect(seen.headers['x-tags']).toBe('a, b');
    expect(seen.headers['x-not-there']).toBeUndefined();
    expect(seen.headers['x-drop-me']).toBeUndefined();
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['x-upstream']).toBeUndefined();
    expect(r.headers['x-multi']).toBe('one, two');
  });

  it('url_rewriting: mapping rules, routing and the upstream see the rewritten target', async () => {
    const r = await gw.send('/v1/items?debug=1&keep=a%20b&user_key=key-4', { host: 'rewrite.test' });
    expect(r.status).toBe(200);
    expect(r.json().url).toBe('/v2/items?keep=a%20b&user_key=key-4&version=2&tag=x%20y');
    // /v1/b → /v2/b, which routing sends to upstream b.
    const routed = await gw.send('/v1/b?user_key=key-4', { host: 'rewrite.test' });
    expect(routed.json().upstream).toBe('b');
    // No rule for the rewritten /v3/items: the service's "no match" answer.
    expect((await gw.send('/v3/items?user_key=key-4', { host: 'rewrite.test' })).status).toBe(404);
  });

  describe('ip_check', () => {
    it('refuses listed addresses (the peer: 127.0.0.1)', async () => {
      const r = await gw.send('/x?user_key=key-5', { host: 'deny.test' });
      expect(r.status).toBe(403);
      expect(r.body).toBe('IP address not allowed');
    });

    it('allows only listed addresses, read from the configured sources in order', async () => {
      const ok = await gw.send('/x?user_key=key-6', {
        host: 'allow.test',
        headers: { 'x-forwarded-for': '192.0.2.7, 10.0.0.1' },
      });
      expect(ok.status).toBe(200);
      const v6 = await gw.send('/x?user_key=key-6', {
        host: 'allow.test',
        headers: { 'x-forwarded-for': '2001:db8::5' },
      });
      expect(v6.status).toBe(200);
      const no = await gw.send('/x?user_key=key-6', { host: 'allow.test' }); // falls back to the peer
      expect(no.status).toBe(451);
      expect(no.body).toBe('not from here');
      const bogus = await gw.send('/x?user_key=key-6', {
        host: 'allow.test',
        headers: { 'x-forwarded-for': 'nope' },
      });
      expect(bogus.status).toBe(451);
    });

    it('refuses a WebSocket upgrade the same way', async () => {
      const s = net.connect(gw.port, '127.0.0.1');
      s.write(
        'GET /ws?user_key=key-5 HTTP/1.1\r\nHost: deny.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      let text = '';
      s.on('data', (d: Buffer) => {
        text += d.toString();
      });
      await once(s, 'end');
      expect(text.startsWith('HTTP/1.1 403 Forbidden')).toBe(true);
      expect(text.endsWith('IP address not allowed')).toBe(true);
    });
  });

  describe('rate_limit (local)', () => {
    it('fixed window per credential: 429 with Retry-After past the count, other keys unaffected', async () => {
      for (let i = 0; i < 3; i++)
        expect((await gw.send('/r?user_key=key-7', { host: 'rl.test' })).status).toBe(200);
      const over = await gw.send('/r?user_key=key-7', { host: 'rl.test' });
      expect(over.status).toBe(429);
      expect(over.body).toBe('Limits Exceeded');
      const retry = Number(over.headers['retry-after']);
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(3600);
      // Another credential has its own window (it is refused later by authorization, not by the limiter).
      expect((await gw.send('/r?user_key=someone-else', { host: 'rl.test' })).status).toBe(403);
    });

    it('keeps its counts across a config reload', async () => {
      await gw.apply(docOf(services.map((s) => (s.id === '7' ? { ...s, name: 'Renamed' } : s))));
      expect(gw.runtime.config.services.get('7')?.chain).not.toBeNull();
      expect((await gw.send('/r?user_key=key-7', { host: 'rl.test' })).status).toBe(429);
    });

    it('token bucket per header: the burst, then 429 until a token comes back', async () => {
      const send = () => gw.send('/r?user_key=key-7', { host: 'rl.test', headers: { 'x-client': 'c1' } });
      // key-7's fixed window is spent: use a fresh service document where only the bucket counts.
      await gw.apply(
        docOf(
          services.map((s) =>
            s.id === '7'
              ? {
                  ...s,
                  policies: [
                    {
                      name: 'rate_limit',
                      configuration: {
                        token_bucket_limiters: [
                          { name: 'client', key: { by: 'header', header: 'X-Client' }, rate: 0.01, burst: 2 },
                        ],
                      },
                    },
                  ],
                }
              : s,
          ),
        ),
      );
      expect((await send()).status).toBe(200);
      expect((await send()).status).toBe(200);
      const over = await send();
      expect(over.status).toBe(429);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(60); // one token per 100 s
      // Without the header there is nothing to key on: the limiter lets the request through.
      expect((await gw.send('/r?user_key=key-7', { host: 'rl.test' })).status).toBe(200);
      await gw.apply(doc);
    });

    it('error_handling log: lets the request through and logs it', async () => {
      expect((await gw.send('/r?user_key=key-8', { host: 'rllog.test' })).status).toBe(200);
      expect((await gw.send('/r?user_key=key-8', { host: 'rllog.test' })).status).toBe(200);
      expect(gw.logs.some((l) => l.msg === 'edge rate limit exceeded (log only)' && l.service === '8')).toBe(
        true,
      );
    });
  });

  describe('payload_limits', () => {
    it('refuses a declared request body over the limit with 413, before credentials', async () => {
      const r = await gw.send('/p', { host: 'payload.test', body: 'x'.repeat(101) });
      expect(r.status).toBe(413);
      expect(r.json().code).toBe('payload_too_large');
      const ok = await gw.send('/p?user_key=key-9', { host: 'payload.test', body: 'x'.repeat(100) });
      expect(ok.status).toBe(200);
      expect(ok.json().bodyLength).toBe(100);
    });

    it('counts a streamed (chunked) request body and answers 413 when it goes over', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: gw.port,
          path: '/p?user_key=key-9',
          method: 'POST',
          headers: { host: 'payload.test', 'transfer-encoding': 'chunked' },
          agent: false,
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        let n = 0;
        const write = () => {
          if (n++ < 10 && !req.destroyed) {
            req.write('y'.repeat(30));
            setTimeout(write, 20);
          } else if (!req.destroyed) req.end();
        };
        write();
      });
      expect(status).toBe(413);
      // A chunked body within the limit streams through.
      const ok = await new Promise<number>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: gw.port,
          path: '/p?user_key=key-9',
          method: 'POST',
          headers: { host: 'payload.test', 'transfer-encoding': 'chunked' },
          agent: false,
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString();
          });
          res.on('end', () => resolve(JSON.parse(body).bodyLength));
        });
        req.on('error', reject);
        req.write('z'.repeat(40));
        req.end('z'.repeat(40));
      });
      expect(ok).toBe(80);
    });

    it('answers 413 for a response whose Content-Length is over, and cuts a streamed one', async () => {
      expect((await gw.send('/sized?bytes=1000&user_key=key-9', { host: 'payload.test' })).status).toBe(200);
      const big = await gw.send('/sized?bytes=1001&user_key=key-9', { host: 'payload.test' });
      expect(big.status).toBe(413);
      const streamed = await gw.send('/big?bytes=50000&user_key=key-9', { host: 'payload.test' }).then(
        (r) => r.body.length,
        () => -1,
      );
      // Either the client saw the connection cut (error) or a truncated body: never all of it.
      expect(streamed).toBeLessThan(50_000);
      expect((await gw.send('/big?bytes=900&user_key=key-9', { host: 'payload.test' })).body.length).toBe(
        900,
      );
    });
  });

  describe('upstream_connection', () => {
    it('read_timeout: 504 when the upstream is slower', async () => {
      const slow = await gw.send('/slow?ms=1500&user_key=key-10', { host: 'timeouts.test' });
      expect(slow.status).toBe(504);
      expect(slow.json().code).toBe('upstream_timeout');
      expect((await gw.send('/slow?ms=5&user_key=key-10', { host: 'timeouts.test' })).status).toBe(200);
    });

    it('connect_timeout: 502 when the connection does not open in time', async () => {
      // The harness's own connect timeout is 2 s; the policy's 0.3 s answers first. No assertion on time.
      const r = await gw.send('/x?user_key=key-11', { host: 'connect.test' });
      expect(r.status).toBe(502);
      expect(r.json().code).toBe('upstream_unreachable');
    });
  });

  describe('retry', () => {
    it('retries an idempotent request on 503 and on a dropped connection', async () => {
      const r = await gw.send('/flaky/one?fail=2&user_key=key-12', { host: 'retry.test' });
      expect(r.status).toBe(200);
      expect(a.hits.get('/flaky/one')).toBe(3);
      const dropped = await gw.send('/drop/one?fail=1&user_key=key-12', { host: 'retry.test' });
      expect(dropped.status).toBe(200);
      expect(a.hits.get('/drop/one')).toBe(2);
    });

    it('gives up after the retries, with the last answer', async () => {
      const r = await gw.send('/flaky/two?fail=5&user_key=key-12', { host: 'retry.test' });
      expect(r.status).toBe(503);
      expect(r.body).toBe('try again');
      expect(a.hits.get('/flaky/two')).toBe(3);
    });

    it('retries on a timeout when asked to, and only on the cases listed', async () => {
      const r = await gw.send('/slowonce/t1?ms=1000&user_key=key-19', { host: 'retrytimeout.test' });
      expect(r.status).toBe(200);
      expect(a.hits.get('/slowonce/t1')).toBe(2);
      // 503 is not among this service's cases.
      expect((await gw.send('/flaky/t2?fail=1&user_key=key-19', { host: 'retrytimeout.test' })).status).toBe(
        503,
      );
      expect(a.hits.get('/flaky/t2')).toBe(1);
    });

    it('never repeats a request with a body', async () => {
      const r = await gw.send('/flaky/three?fail=1&user_key=key-12', {
        host: 'retry.test',
        method: 'PUT',
        body: 'x',
      });
      expect(r.status).toBe(503);
      expect(a.hits.get('/flaky/three')).toBe(1);
    });
  });

  it('maintenance_mode: answers matching requests itself, before credentials', async () => {
    const r = await gw.send('/admin/panel', { host: 'maint.test' });
    expect(r.status).toBe(503);
    expect(r.body).toBe('back soon');
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect((await gw.send('/administrator?user_key=key-13', { host: 'maint.test' })).status).toBe(200);
  });

  it('default_credentials: used only when the request presents none', async () => {
    expect((await gw.send('/x', { host: 'defaults.test' })).status).toBe(200);
    expect((await gw.send('/x?user_key=wrong', { host: 'defaults.test' })).status).toBe(403);
  });

  it('routing: picks the upstream by header, query argument or path; else the service one', async () => {
    const by = async (path: string, headers: Record<string, string> = {}) => {
      const r = await gw.send(path, { host: 'routing.test', headers });
      expect(r.status).toBe(200);
      return r.json();
    };
    expect((await by('/x?user_key=key-15')).upstream).toBe('a');
    expect((await by('/x?user_key=key-15', { 'x-beta': '1' })).upstream).toBe('b');
    const q = await by('/x?route=b&user_key=key-15');
    expect(q.upstream).toBe('b');
    expect(q.url).toBe('/base/x?route=b&user_key=key-15');
    expect(q.headers.host).toBe('b.internal');
    expect((await by('/to-b/y?user_key=key-15')).url).toBe('/base/to-b/y?user_key=key-15');
  });

  it('statuscode_overwrite: replaces the upstream status it names', async () => {
    expect((await gw.send('/status/503?user_key=key-16', { host: 'status.test' })).status).toBe(500);
    expect((await gw.send('/status/404?user_key=key-16', { host: 'status.test' })).status).toBe(404);
  });

  it('logging: one JSON access line per request, without credentials', async () => {
    const before = gw.logs.length;
    await gw.send('/items/7?user_key=key-17&q=1', {
      host: 'logging.test',
      headers: { 'x-request-id': 'req-1', 'user-agent': 'vitest' },
    });
    await gw.send('/items/8?user_key=nope', { host: 'logging.test' });
    // The line is written on the response's 'close', which may come just after the client has it all.
    const access = () => gw.logs.slice(before).filter((l) => l.msg === 'access');
    for (let i = 0; i < 100 && access().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const lines = access();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      service: '17',
      method: 'GET',
      path: '/items/7',
      status: 200,
      host: 'logging.test',
      user_agent: 'vitest',
      bytes_in: 0,
      upstream: a.url,
      request_headers: { 'x-request-id': 'req-1' },
      response_headers: { 'x-upstream': 'a' },
    });
    expect(typeof lines[0]!.application).toBe('string');
    expect(lines[0]!.latency_ms).toBeGreaterThanOrEqual(0);
    expect(lines[0]!.bytes_out).toBeGreaterThan(0);
    expect(lines[1]).toMatchObject({ path: '/items/8', status: 403 });
    expect(lines[1]!.upstream).toBeUndefined();
    expect(JSON.stringify(lines)).not.toContain('key-17');
    expect(JSON.stringify(lines)).not.toContain('nope');
  });
});
