// Policy configurations in the declarative config: every policy's schema, faults with their exact
// paths, defaults filled when the gateway compiles a chain, and the chain's compilation itself.
import { describe, expect, it } from 'vitest';
import { checkPolicies, POLICY_SCHEMAS, parsePolicyConfig } from '../../../src/config/policies.js';
import { POLICY_NAMES } from '../../../src/config/schema.js';
import { validateConfig } from '../../../src/config/validate.js';
import { compileChain } from '../../../src/gateway/policies/chain.js';
import { compileGatewayConfig, GATEWAY_AUTH_ERRORS } from '../../../src/gateway/service.js';
import { EVERY_POLICY } from './examples.js';

function doc(policies: unknown[]) {
  return {
    version: 1,
    tenants: [
      {
        name: 'acme',
        provider_key: 'pk',
        services: [{ system_name: 'api', upstream: 'http://127.0.0.1:9', hosts: ['api.test'], policies }],
      },
    ],
  };
}

function faults(policies: unknown[]): string[] {
  const v = validateConfig(doc(policies));
  return v.ok ? [] : v.faults.map((f) => `${f.path}: ${f.message}`);
}

const at = 'tenants[0].services[0].policies';

describe('policy configurations', () => {
  it('has a schema for every policy name', () => {
    expect(Object.keys(POLICY_SCHEMAS).sort()).toEqual([...POLICY_NAMES].sort());
  });

  it('accepts an example of every policy', () => {
    expect(faults(EVERY_POLICY)).toEqual([]);
    expect(EVERY_POLICY.map((p) => p.name).sort()).toEqual([...POLICY_NAMES].sort());
  });

  it('names each fault by its exact path', () => {
    expect(
      faults([
        { name: 'cors' },
        { name: 'retry', configuration: { retries: 2 } },
        {
          name: 'ip_check',
          configuration: { check_type: 'allow', cidrs: ['10.0.0.0/8', '10.0.0.0/33', 'nope'] },
        },
      ]),
    ).toEqual([
      `${at}[2].configuration.cidrs[1]: not a CIDR (or IP address)`,
      `${at}[2].configuration.cidrs[2]: not a CIDR (or IP address)`,
    ]);
  });

  it.each([
    [
      { name: 'cors', configuration: { allow_origin: 'app.example.com' } },
      '.allow_origin: must be "*" or an origin',
    ],
    [{ name: 'cors', configuration: { max_age: -1 } }, '.max_age: must be at least 0'],
    [{ name: 'cors', configuration: { allow_methods: ['FETCH'] } }, '.allow_methods[0]: not an HTTP method'],
    [{ name: 'cors', configuration: { colour: 'red' } }, '.colour: unknown field'],
    [
      { name: 'headers', configuration: { request: [{ op: 'set', header: 'X-A' }] } },
      '.request[0].value: required for set',
    ],
    [
      { name: 'headers', configuration: { response: [{ op: 'set', header: 'X-A', value: 'a\r\nb' }] } },
      '.response[0].value: must not contain CR, LF or NUL',
    ],
    [
      { name: 'headers', configuration: { request: [{ op: 'set', header: 'Content-Length', value: '1' }] } },
      '.request[0].header: managed by the gateway',
    ],
    [
      { name: 'headers', configuration: { request: [{ op: 'delete', header: 'bad header' }] } },
      '.request[0].header: not a header name',
    ],
    [
      { name: 'url_rewriting', configuration: { commands: [{ op: 'sub', regex: '(', replace: '' }] } },
      '.commands[0].regex: not a valid regular expression',
    ],
    [
      {
        name: 'url_rewriting',
        configuration: { commands: [{ op: 'sub', regex: 'a', replace: '', options: 'g' }] },
      },
      '.commands[0].options: only the flags i, m, s and u',
    ],
    [
      {
        name: 'url_rewriting',
        configuration: { query_args_commands: [{ op: 'delete', arg: 'a', value: 'b' }] },
      },
      '.query_args_commands[0].value: not used by delete',
    ],
    [{ name: 'ip_check', configuration: { cidrs: ['10.0.0.0/8'] } }, '.check_type: required'],
    [
      {
        name: 'ip_check',
        configuration: { check_type: 'allow', cidrs: ['10.0.0.1'], client_ip_sources: ['Forwarded'] },
      },
      '.client_ip_sources[0]: must be one of',
    ],
    [{ name: 'rate_limit', configuration: {} }, 'configuration: needs at least one limiter'],
    [
      { name: 'rate_limit', configuration: { fixed_window_limiters: [{ key: { by: 'header' }, count: 1 }] } },
      '.fixed_window_limiters[0].key.header: required when by is header',
    ],
    [
      { name: 'rate_limit', configuration: { token_bucket_limiters: [{ rate: 0, burst: 1 }] } },
      '.token_bucket_limiters[0].rate: must be more than 0',
    ],
    [
      { name: 'rate_limit', configuration: { fixed_window_limiters: [{ count: 1 }], storage: 'memcached' } },
      '.storage: must be one of: local, redis',
    ],
    [{ name: 'payload_limits', configuration: { request: 1.5 } }, '.request: expected an integer'],
    [{ name: 'upstream_connection', configuration: { send_timeout: 1 } }, '.send_timeout: unknown field'],
    [
      { name: 'upstream_connection', configuration: { read_timeout: 0 } },
      '.read_timeout: must be more than 0',
    ],
    [{ name: 'retry', configuration: { retries: 11 } }, '.retries: must be at most 10'],
    [{ name: 'retry', configuration: {} }, '.retries: required'],
    [
      { name: 'retry', configuration: { retries: 1, retry_on: ['http_418'] } },
      '.retry_on[0]: must be one of',
    ],
    [{ name: 'maintenance_mode', configuration: { status: 99 } }, '.status: must be at least 200'],
    [
      {
        name: 'maintenance_mode',
        configuration: { condition: { operations: [{ match: 'path', op: 'matches', value: '[' }] } },
      },
      '.condition.operations[0].value: not a valid regular expression',
    ],
    [{ name: 'default_credentials', configuration: {} }, '.user_key: required for auth_type user_key'],
    [
      { name: 'default_credentials', configuration: { auth_type: 'app_id_and_app_key' } },
      '.app_id: required for auth_type app_id_and_app_key',
    ],
    [
      { name: 'default_credentials', configuration: { user_key: 'k', app_key: 'x' } },
      '.app_key: only for auth_type app_id_and_app_key',
    ],
    [{ name: 'routing', configuration: { rules: [] } }, '.rules: must have at least 1 item(s)'],
    [
      { name: 'routing', configuration: { rules: [{ url: 'ftp://x' }] } },
      '.rules[0].url: must be an http(s) URL without query, fragment or credentials',
    ],
    [
      {
        name: 'routing',
        configuration: {
          rules: [
            { url: 'http://x', condition: { operations: [{ match: 'header', op: '==', value: '1' }] } },
          ],
        },
      },
      '.rules[0].condition.operations[0].header_name: required when match is header',
    ],
    [
      {
        name: 'statuscode_overwrite',
        configuration: {
          http_statuses: [
            { upstream: 500, gateway: 503 },
            { upstream: 500, gateway: 502 },
          ],
        },
      },
      '.http_statuses[1].upstream: listed twice',
    ],
    [
      { name: 'logging', configuration: { request_headers: ['Authorization'] } },
      '.request_headers[0]: carries credentials',
    ],
    [{ name: 'logging', configuration: { fields: ['password'] } }, '.fields[0]: must be one of'],
    // A disabled policy is checked all the same.
    [{ name: 'retry', enabled: false, configuration: { retries: 0 } }, '.retries: must be at least 1'],
  ])('refuses %j', (policy, expected) => {
    // (The fixture's service reads a user_key: app_id default credentials also draw an auth-mode fault,
    // checked in test/config/validate.test.ts.)
    const got = faults([policy]).filter((f) => !f.includes('does not fit auth mode'));
    expect(got).toHaveLength(1);
    expect(got[0]!.startsWith(`${at}[0].configuration`)).toBe(true);
    expect(got[0]).toContain(expected);
  });

  it('fills the defaults when a configuration is parsed', () => {
    expect(parsePolicyConfig('cors', {})).toEqual({
      expose_headers: [],
      allow_credentials: false,
      max_age: 600,
    });
    expect(parsePolicyConfig('retry', { retries: 3 })).toEqual({
      retries: 3,
      retry_on: ['error', 'timeout', 'http_502', 'http_503', 'http_504'],
    });
    expect(parsePolicyConfig('rate_limit', { fixed_window_limiters: [{ count: 5 }] })).toMatchObject({
      fixed_window_limiters: [{ key: { by: 'ip' }, count: 5, window: 1 }],
      storage: 'local',
      client_ip_sources: ['last_caller'],
      limits_exceeded_error: { status_code: 429, error_handling: 'exit' },
    });
    expect(parsePolicyConfig('maintenance_mode', {})).toEqual({
      status: 503,
      message: 'Service Unavailable - Maintenance',
      message_content_type: 'text/plain; charset=utf-8',
    });
    expect(checkPolicies([{ name: 'teleport', configuration: {} }])).toEqual([
      { path: [0, 'configuration'], message: 'unknown policy "teleport"' },
    ]);
  });
});

describe('chain compilation', () => {
  const svc = {
    id: 's1',
    auth: { mode: 'user_key' as const },
    errors: { limits_exceeded: { status: 429, contentType: 'text/plain', body: Buffer.from('x') } },
  };

  it('is null without enabled policies (the plain fast path)', () => {
    expect(compileChain([], svc)).toBeNull();
    expect(compileChain([{ name: 'cors', enabled: false, configuration: {} }], svc)).toBeNull();
  });

  it('compiles every policy into its phases, in chain order', () => {
    const chain = compileChain(
      EVERY_POLICY.map((p) => ({ name: p.name, enabled: p.enabled ?? true, configuration: p.configuration })),
      svc,
    )!;
    expect(chain.names).not.toContain('maintenance_mode'); // disabled
    expect(chain.names).toHaveLength(POLICY_NAMES.length - 1);
    expect(chain.defaultCredentials).toEqual({ kind: 'user_key', userKey: 'public-demo-key' });
    expect(chain.forward).toMatchObject({
      connectMs: 2000,
      readMs: 30_000,
      retries: 2,
      requestLimit: 1_048_576,
      responseLimit: 10_485_760,
    });
    expect(chain.forward!.retryOn.statuses).toEqual(new Set([502, 503, 504]));
    expect(chain.log).not.toBeNull();
  });

  it('refuses a stored configuration that does not validate (the config version is not installed)', () => {
    expect(() =>
      compileChain(
        [{ name: 'ip_check', enabled: true, configuration: { check_type: 'allow', cidrs: ['x'] } }],
        svc,
      ),
    ).toThrow('service s1: policies[0] (ip_check): policy ip_check: cidrs.0: not a CIDR');
  });

  it('is part of the compiled gateway config', () => {
    const cfg = compileGatewayConfig({
      version: 'v',
      services: [
        {
          id: 's1',
          tenantId: 't',
          systemName: 'api',
          state: 'active',
          providerKey: 'pk',
          upstream: 'http://127.0.0.1:9',
          hosts: ['api.test'],
          auth: { mode: 'user_key' },
          authorization: { mode: 'strict', on_store_failure: 'deny' },
          gateway: {},
          policies: [{ name: 'retry', enabled: true, configuration: { retries: 1 } }],
          metrics: [],
          mappingRules: [],
        },
      ],
    } as never);
    expect(cfg.services.get('s1')?.chain?.forward?.retries).toBe(1);
    expect(GATEWAY_AUTH_ERRORS.limits_exceeded.status).toBe(429);
  });
});
