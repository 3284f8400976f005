/** Policy configurations shared by the policy suites. */

/** One example of every policy, as docs/policies.md shows them. */
export const EVERY_POLICY = [
  { name: 'cors', configuration: { allow_origin: 'https://app.example.com', allow_credentials: true } },
  {
    name: 'headers',
    configuration: {
      request: [{ op: 'set', header: 'X-Api-Version', value: '2' }],
      response: [{ op: 'delete', header: 'Server' }],
    },
  },
  { name: 'url_rewriting', configuration: { commands: [{ op: 'sub', regex: '^/v1/', replace: '/v2/' }] } },
  { name: 'ip_check', configuration: { check_type: 'deny', cidrs: ['203.0.113.0/24', '2001:db8::/32'] } },
  {
    name: 'rate_limit',
    configuration: {
      fixed_window_limiters: [{ key: { by: 'ip' }, count: 100, window: 60 }],
      token_bucket_limiters: [{ key: { by: 'credential' }, rate: 10, burst: 20 }],
      storage: 'redis',
    },
  },
  { name: 'payload_limits', configuration: { request: 1_048_576, response: 10_485_760 } },
  { name: 'upstream_connection', configuration: { connect_timeout: 2, read_timeout: 30 } },
  { name: 'retry', configuration: { retries: 2 } },
  { name: 'maintenance_mode', enabled: false, configuration: { message: 'Back at 10:00 UTC' } },
  { name: 'default_credentials', configuration: { auth_type: 'user_key', user_key: 'public-demo-key' } },
  {
    name: 'routing',
    configuration: {
      rules: [
        {
          url: 'http://beta.internal:8080',
          condition: { operations: [{ match: 'header', header_name: 'X-Beta', op: '==', value: '1' }] },
        },
      ],
    },
  },
  { name: 'statuscode_overwrite', configuration: { http_statuses: [{ upstream: 500, gateway: 503 }] } },
  { name: 'logging', configuration: { fields: ['service', 'method', 'path', 'status'] } },
];
