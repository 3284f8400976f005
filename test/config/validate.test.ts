// Validation of config documents: every fault with its exact path and message, nothing else.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatFault } from '../../src/config/faults.js';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';

const fixture = readFileSync(new URL('../fixtures/acme.yaml', import.meta.url), 'utf8');

/** A minimal valid document to break one field at a time. */
function base(): Record<string, unknown> {
  return {
    version: 1,
    tenants: [
      {
        name: 'acme',
        provider_key: 'pk',
        admin_tokens: [{ name: 'ci', value: 'token-value-1' }],
        services: [
          {
            system_name: 'echo',
            auth: { mode: 'user_key' },
            metrics: [{ system_name: 'hits' }, { system_name: 'get_item', parent: 'hits' }],
            mapping_rules: [{ method: 'GET', pattern: '/items', metric: 'get_item' }],
            plans: [{ system_name: 'basic', limits: { hits: { day: 10 } } }],
          },
          {
            system_name: 'keys',
            auth: { mode: 'app_id' },
            metrics: [{ system_name: 'hits' }],
            plans: [{ system_name: 'pro' }],
          },
        ],
        accounts: [
          {
            name: 'Dev Co',
            applications: [
              { name: 'A', service: 'echo', plan: 'basic', user_key: 'k1' },
              { name: 'B', service: 'keys', plan: 'pro', app_id: 'b1', app_keys: ['s1'] },
            ],
          },
        ],
      },
    ],
  };
}

type Doc = ReturnType<typeof base>;
// biome-ignore lint/suspicious/noExplicitAny: tests poke into an untyped document
type Any = any;

function faultsOf(edit: (d: Any) => void): string[] {
  const d: Doc = structuredClone(base());
  edit(d);
  const v = validateConfig(d);
  return v.ok ? [] : v.faults.map(formatFault);
}

describe('config validation', () => {
  it('accepts the base document and the acme fixture', () => {
    expect(faultsOf(() => {})).toEqual([]);
    const v = loadConfig(fixture);
    expect(v.ok ? [] : v.faults.map(formatFault)).toEqual([]);
  });

  it('reports the ARCHITECTURE example fault exactly', () => {
    const text = fixture.replace('hits: { minute: 10, day: 1000 }', 'hits: { minute: 10, dai: 1000 }');
    const v = loadConfig(text);
    expect(v.ok ? [] : v.faults.map(formatFault)).toEqual([
      'tenants[0].services[0].plans[0].limits.hits.dai: unknown period',
    ]);
  });

  it('fills the documented defaults', () => {
    const v = validateConfig(base());
    if (!v.ok) throw new Error('invalid');
    const svc = v.doc.tenants[0]!.services[0]!;
    expect(svc.state).toBe('active');
    expect(svc.authorization).toEqual({ mode: 'strict', on_store_failure: 'deny' });
    expect(svc.referrer_filters_required).toBe(false);
    expect(svc.metrics[0]!.unit).toBe('hit');
    expect(svc.plans[0]!.pricing).toEqual({ monthly_fee: '0', setup_fee: '0', trial_days: 0, rules: [] });
    expect(v.doc.tenants[0]!.accounts[0]!.applications[0]!.state).toBe('active');
  });

  const cases: [string, (d: Any) => void, string[]][] = [
    [
      'unknown field',
      (d) => (d.tenants[0].services[0].colour = 'red'),
      ['tenants[0].services[0].colour: unknown field'],
    ],
    ['unknown top-level field', (d) => (d.extra = 1), ['extra: unknown field']],
    [
      'upstream with a query or credentials',
      (d) => {
        d.tenants[0].services[0].upstream = 'http://u:p@127.0.0.1:9000/?x=1';
      },
      ['tenants[0].services[0].upstream: must not carry credentials, a query or a fragment'],
    ],
    [
      'default credentials of another kind than the service reads',
      (d) => {
        d.tenants[0].services[1].policies = [
          { name: 'default_credentials', configuration: { auth_type: 'user_key', user_key: 'k' } },
        ];
        d.tenants[0].services[0].policies = [
          { name: 'default_credentials', configuration: { user_key: 'k' } },
        ];
      },
      ['tenants[0].services[1].policies[0].configuration.auth_type: does not fit auth mode app_id'],
    ],
    [
      'two services on one host and prefix',
      (d) => {
        d.tenants[0].services[0].hosts = ['Echo.localhost', 'v2.localhost'];
        d.tenants[0].services[1].hosts = ['echo.localhost'];
      },
      ['tenants[0].services[1].hosts[0]: host and path prefix already served by tenants[0].services[0]'],
    ],
    ['wrong version', (d) => (d.version = 2), ['version: must be 1']],
    ['missing provider key', (d) => delete d.tenants[0].provider_key, ['tenants[0].provider_key: required']],
    [
      'tenant name not a slug',
      (d) => (d.tenants[0].name = 'Acme Inc'),
      [
        'tenants[0].name: must be a slug: lowercase letters, digits and "-", at most 63, not starting or ending with "-"',
      ],
    ],
    [
      'duplicate tenant name and provider key',
      (d) => d.tenants.push({ name: 'acme', provider_key: 'pk' }),
      [
        'tenants[1].name: duplicate tenant name (also tenants[0])',
        'tenants[1].provider_key: provider key already used by tenants[0]',
      ],
    ],
    [
      'unknown parent metric',
      (d) => (d.tenants[0].services[0].metrics[1].parent = 'hitz'),
      ['tenants[0].services[0].metrics[1].parent: unknown metric "hitz"'],
    ],
    [
      'metric cycle',
      (d) => (d.tenants[0].services[0].metrics[0].parent = 'get_item'),
      [
        'tenants[0].services[0].metrics[0].parent: cycle in metric parents: hits -> get_item -> hits',
        'tenants[0].services[0].metrics[1].parent: cycle in metric parents: get_item -> hits -> get_item',
      ],
    ],
    [
      'duplicate metric',
      (d) => d.tenants[0].services[0].metrics.push({ system_name: 'hits' }),
      ['tenants[0].services[0].metrics[2].system_name: duplicate metric system_name'],
    ],
    [
      'mapping rule method, pattern and metric',
      (d) =>
        (d.tenants[0].services[0].mapping_rules[0] = { method: 'FETCH', pattern: 'items', metric: 'nope' }),
      [
        'tenants[0].services[0].mapping_rules[0].method: not an HTTP method (GET, POST, PUT, PATCH, DELETE, …)',
        'tenants[0].services[0].mapping_rules[0].pattern: must start with "/"',
      ],
    ],
    [
      'mapping rule metric unknown',
      (d) => (d.tenants[0].services[0].mapping_rules[0].metric = 'nope'),
      ['tenants[0].services[0].mapping_rules[0].metric: unknown metric "nope"'],
    ],
    [
      'negative and fractional limits',
      (d) => (d.tenants[0].services[0].plans[0].limits = { hits: { day: -1, hour: 1.5 } }),
      [
        'tenants[0].services[0].plans[0].limits.hits.day: must be at least 0',
        'tenants[0].services[0].plans[0].limits.hits.hour: expected an integer, got number 1.5',
      ],
    ],
    [
      'limit on an unknown metric',
      (d) => (d.tenants[0].services[0].plans[0].limits = { bogus: { day: 1 } }),
      ['tenants[0].services[0].plans[0].limits.bogus: unknown metric "bogus"'],
    ],
    [
      'money as a number',
      (d) => (d.tenants[0].services[0].plans[0].pricing = { monthly_fee: 10, setup_fee: '1,5' }),
      [
        'tenants[0].services[0].plans[0].pricing.monthly_fee: must be a decimal string such as "10.00"',
        'tenants[0].services[0].plans[0].pricing.setup_fee: must be a decimal string such as "10.00"',
      ],
    ],
    [
      'pricing rule metric',
      (d) =>
        (d.tenants[0].services[0].plans[0].pricing = {
          rules: [{ metric: 'x', from: 5, to: 2, price_per_unit: '1' }],
        }),
      [
        'tenants[0].services[0].plans[0].pricing.rules[0].metric: unknown metric "x"',
        'tenants[0].services[0].plans[0].pricing.rules[0].to: must not be less than from',
      ],
    ],
    [
      'app service and plan',
      (d) => {
        d.tenants[0].accounts[0].applications[0].plan = 'pro';
        d.tenants[0].accounts[0].applications[1].service = 'ghost';
      },
      [
        'tenants[0].accounts[0].applications[0].plan: unknown plan "pro" of service "echo"',
        'tenants[0].accounts[0].applications[1].service: unknown service "ghost"',
      ],
    ],
    [
      'credentials of either kind on any service, but each unique in its service',
      (d) => {
        d.tenants[0].accounts[0].applications[1].user_key = 'k9';
        const app = d.tenants[0].accounts[0].applications[0];
        app.app_keys = ['s'];
        app.app_id = 'b1';
        app.service = d.tenants[0].accounts[0].applications[1].service;
        app.plan = d.tenants[0].accounts[0].applications[1].plan;
      },
      [
        'tenants[0].accounts[0].applications[1].app_id: app_id already used in service "keys" by tenants[0].accounts[0].applications[0]',
      ],
    ],
    [
      'too many app keys',
      (d) => (d.tenants[0].accounts[0].applications[1].app_keys = ['1', '2', '3', '4', '5', '6']),
      ['tenants[0].accounts[0].applications[1].app_keys: at most 5 app_keys'],
    ],
    [
      'duplicate user_key and app_id in a service',
      (d) =>
        d.tenants[0].accounts.push({
          name: 'Other',
          applications: [
            { name: 'C', service: 'echo', plan: 'basic', user_key: 'k1' },
            { name: 'D', service: 'keys', plan: 'pro', app_id: 'b1' },
          ],
        }),
      [
        'tenants[0].accounts[1].applications[0].user_key: user_key already used in service "echo" by tenants[0].accounts[0].applications[0]',
        'tenants[0].accounts[1].applications[1].app_id: app_id already used in service "keys" by tenants[0].accounts[0].applications[1]',
      ],
    ],
    [
      'duplicate service ids across tenants',
      (d) => {
        d.tenants[0].services[0].id = '123';
        d.tenants.push({ name: 'beta', provider_key: 'pk2', services: [{ id: '123', system_name: 'x' }] });
      },
      ['tenants[1].services[0].id: duplicate service id (also tenants[0].services[0])'],
    ],
    [
      'admin token with value and hash',
      (d) => (d.tenants[0].admin_tokens[0].hash = `sha256:${'a'.repeat(64)}`),
      ['tenants[0].admin_tokens[0]: give exactly one of value or hash'],
    ],
    [
      'bad hash and bad service token',
      (d) => {
        d.tenants[0].admin_tokens[0] = { name: 'ci', hash: 'md5:abc' };
        d.tenants[0].services[0].service_tokens = [42];
      },
      [
        'tenants[0].admin_tokens[0].hash: must be "sha256:" followed by 64 lowercase hex digits',
        'tenants[0].services[0].service_tokens[0]: must be a token string or { hash: "sha256:<hex>" }',
      ],
    ],
    [
      'enum values',
      (d) => {
        d.tenants[0].services[0].state = 'paused';
        d.tenants[0].services[0].auth.mode = 'basic';
      },
      [
        'tenants[0].services[0].state: must be one of: active, suspended',
        'tenants[0].services[0].auth.mode: must be one of: user_key, app_id, oidc',
      ],
    ],
    [
      'two default services',
      (d) => {
        d.tenants[0].services[0].default = true;
        d.tenants[0].services[1].default = true;
      },
      ['tenants[0].services[1].default: only one service can be the default'],
    ],
    [
      'wrong types',
      (d) => {
        d.tenants[0].services[0].hosts = 'echo.localhost';
        d.tenants[0].services[0].referrer_filters_required = 'no';
      },
      [
        'tenants[0].services[0].hosts: expected a list, got string "echo.localhost"',
        'tenants[0].services[0].referrer_filters_required: expected true or false, got string "no"',
      ],
    ],
  ];

  for (const [name, edit, expected] of cases) {
    it(`reports ${name}`, () => {
      expect(faultsOf(edit)).toEqual(expected);
    });
  }

  it('accepts the ARCHITECTURE example verbatim (docs/examples/acme.yaml)', () => {
    const text = readFileSync(new URL('../../docs/examples/acme.yaml', import.meta.url), 'utf8');
    const v = loadConfig(text);
    expect(v.ok ? [] : v.faults.map(formatFault)).toEqual([]);
  });

  it('accepts the example of docs/config.md', () => {
    const md = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(md)?.[1] ?? '';
    const v = loadConfig(example);
    expect(v.ok ? [] : v.faults.map(formatFault)).toEqual([]);
  });

  it('reports YAML syntax errors and duplicate keys with their line', () => {
    const bad = parseConfigText('version: 1\nversion: 1\n');
    expect(bad.ok).toBe(false);
    if (!bad.ok)
      expect(bad.faults.map(formatFault)).toEqual([
        'not valid YAML or JSON: Map keys must be unique at line 2, column 1',
      ]);
    const json = parseConfigText('{"version": 1, "tenants": []}');
    expect(json).toEqual({ ok: true, value: { version: 1, tenants: [] } });
  });
});
