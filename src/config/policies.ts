/**
 * The gateway's policies: one strict schema per policy's `configuration` (defaults explicit), and the
 * checks run when a config is applied or a chain is PUT through the admin API (a bad policy fails the
 * change, never a request). Field names follow 3scale APIcast's policies where that makes sense; liquid
 * templating is left out (values are plain). docs/policies.md documents every field.
 *
 * Chains are stored as written (what was applied is what export returns); the gateway parses each
 * configuration again with these schemas when it compiles a config version, which fills the defaults.
 */
import net from 'node:net';
import { z } from 'zod';
import type { PolicyDoc } from './schema.js';
import { issueFaults, zodMessage } from './zod-messages.js';

export interface PolicyFault {
  /** Relative to the chain: `[2, 'configuration', 'cidrs', 1]`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Methods a request may carry (APIcast's lists; no `ANY` here). */
export const POLICY_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'TRACE',
  'CONNECT',
] as const;

/** RFC 9110 §5.6.2 token: what a header name may be. */
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Header fields the gateway manages itself (framing, hop-by-hop, Host): policies may not edit them. */
const MANAGED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'host',
]);
/** Header fields that carry credentials: never written to an access log. */
export const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

const text = z.string().min(1);
const headerName = z.string().regex(TOKEN_RE, { error: 'not a header name' });
const editableHeader = headerName.refine((h) => !MANAGED_HEADERS.has(h.toLowerCase()), {
  error: 'managed by the gateway; policies cannot change it',
});
const headerValue = z
  .string()
  .max(8192)
  .regex(/^[^\r\n\0]*$/, { error: 'must not contain CR, LF or NUL' });
const method = z.enum(POLICY_METHODS, { error: 'not an HTTP method (GET, POST, PUT, PATCH, DELETE, …)' });
const seconds = z.number().positive().max(86_400);

/** A JavaScript regular expression (what `matches` and url_rewriting's `regex` take). */
function regexError(source: string, flags = ''): string | null {
  try {
    new RegExp(source, flags);
    return null;
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
}

/** `ip` or `ip/prefix`, IPv4 or IPv6. */
export function parseCidr(s: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | null {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const v = net.isIP(address);
  if (v === 0) return null;
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  return { address, prefix, type: v === 4 ? 'ipv4' : 'ipv6' };
}

const cidr = z.string().refine((s) => parseCidr(s) !== null, { error: 'not a CIDR (or IP address)' });

/** Where the client's IP is read, in order (APIcast's `client_ip_sources`). */
export const CLIENT_IP_SOURCES = ['last_caller', 'X-Forwarded-For', 'X-Real-IP'] as const;
const clientIpSources = z
  .array(z.enum(CLIENT_IP_SOURCES))
  .min(1)
  .max(3)
  .default(['last_caller'])
  .refine((l) => new Set(l).size === l.length, { error: 'lists a source twice' });

/** One test of a condition: a request property compared with a value. */
const OperationSchema = z
  .strictObject({
    match: z.enum(['path', 'header', 'query_arg', 'method']),
    /** match header: the header's name. */
    header_name: headerName.optional(),
    /** match query_arg: the query parameter's name. */
    query_arg_name: text.optional(),
    /** `matches`: `value` is a regular expression searched in the property. */
    op: z.enum(['==', '!=', 'matches']),
    value: z.string(),
  })
  .superRefine((o, ctx) => {
    if (o.match === 'header' && o.header_name === undefined)
      ctx.addIssue({ code: 'custom', path: ['header_name'], message: 'required when match is header' });
    if (o.match !== 'header' && o.header_name !== undefined)
      ctx.addIssue({ code: 'custom', path: ['header_name'], message: 'only when match is header' });
    if (o.match === 'query_arg' && o.query_arg_name === undefined)
      ctx.addIssue({ code: 'custom', path: ['query_arg_name'], message: 'required when match is query_arg' });
    if (o.match !== 'query_arg' && o.query_arg_name !== undefined)
      ctx.addIssue({ code: 'custom', path: ['query_arg_name'], message: 'only when match is query_arg' });
    if (o.op === 'matches') {
      const e = regexError(o.value);
      if (e !== null) ctx.addIssue({ code: 'custom', path: ['value'], message: e });
    }
  });

/** Operations combined with `and` (all hold) or `or` (one holds); no operations: always true. */
export const ConditionSchema = z.strictObject({
  operations: z.array(OperationSchema).default([]),
  combine_op: z.enum(['and', 'or']).default('and'),
});

/** `*`, `null`, or `scheme://host[:port]` where host may start with `*.` (any subdomain). */
const ORIGIN_RE =
  /^https?:\/\/(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?$/;
const origin = z.string().refine((s) => s === '*' || s === 'null' || ORIGIN_RE.test(s), {
  error: 'must be "*" or an origin such as "https://app.example.com" (a leading "*." matches subdomains)',
});

export const CorsSchema = z.strictObject({
  /** Origins allowed; absent: any origin (the request's `Origin` is echoed, as APIcast does). */
  allow_origin: z.union([origin, z.array(origin).min(1)]).optional(),
  /** Absent: the preflight's `Access-Control-Request-Method` is echoed. */
  allow_methods: z.array(method).min(1).optional(),
  /** Absent: the preflight's `Access-Control-Request-Headers` is echoed. */
  allow_headers: z.array(headerName).min(1).optional(),
  expose_headers: z.array(headerName).default([]),
  allow_credentials: z.boolean().default(false),
  /** Seconds a browser may cache a preflight answer. */
  max_age: z.int().min(0).max(86_400).default(600),
});

const HeaderCommandSchema = z
  .strictObject({
    /** set: create or replace; add: append to an existing header only; push: create or append; delete. */
    op: z.enum(['set', 'add', 'push', 'delete']),
    header: editableHeader,
    value: headerValue.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.op === 'delete' && c.value !== undefined)
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'not used by delete' });
    if (c.op !== 'delete' && c.value === undefined)
      ctx.addIssue({ code: 'custom', path: ['value'], message: `required for ${c.op}` });
  });

export const HeadersSchema = z.strictObject({
  /** Edits of the request, before credentials are read (they see the edited headers) and forwarded. */
  request: z.array(HeaderCommandSchema).default([]),
  /** Edits of the upstream's response. */
  response: z.array(HeaderCommandSchema).default([]),
});

const RewriteCommandSchema = z
  .strictObject({
    /** sub: the first match; gsub: every match. */
    op: z.enum(['sub', 'gsub']),
    regex: text,
    /** `$1`… name the regex's groups. */
    replace: z.string(),
    /** Regex flags: any of `i`, `m`, `s`, `u`. */
    options: z
      .string()
      .regex(/^[imsu]*$/, { error: 'only the flags i, m, s and u' })
      .default(''),
    /** Stop at this command when it changed the path. */
    break: z.boolean().default(false),
    /** Only for these methods; empty: every method. */
    methods: z.array(method).default([]),
  })
  .superRefine((c, ctx) => {
    const e = regexError(c.regex, c.options);
    if (e !== null) ctx.addIssue({ code: 'custom', path: ['regex'], message: e });
  });

const QueryCommandSchema = z
  .strictObject({
    /** set: create or replace; add: append to an existing arg only; push: create or append; delete. */
    op: z.enum(['set', 'add', 'push', 'delete']),
    arg: text,
    value: z.string().optional(),
    methods: z.array(method).default([]),
  })
  .superRefine((c, ctx) => {
    if (c.op === 'delete' && c.value !== undefined)
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'not used by delete' });
    if (c.op !== 'delete' && c.value === undefined)
      ctx.addIssue({ code: 'custom', path: ['value'], message: `required for ${c.op}` });
  });

export const UrlRewritingSchema = z.strictObject({
  /** Rewrites of the path (not the query), in order, before mapping rules see it. */
  commands: z.array(RewriteCommandSchema).default([]),
  /** Edits of the query string's arguments. */
  query_args_commands: z.array(QueryCommandSchema).default([]),
});

export const IpCheckSchema = z.strictObject({
  /** allow: only the listed ranges get through; deny: the listed ranges are refused. */
  check_type: z.enum(['allow', 'deny']),
  cidrs: z.array(cidr).min(1),
  status: z.int().min(400).max(599).default(403),
  error_msg: z.string().max(65_536).default('IP address not allowed'),
  client_ip_sources: clientIpSources,
});

const LimiterKeySchema = z
  .strictObject({
    /** ip: the client IP; credential: the user_key / app_id the request presents; header: a header's value. */
    by: z.enum(['ip', 'credential', 'header']).default('ip'),
    header: headerName.optional(),
  })
  .superRefine((k, ctx) => {
    if (k.by === 'header' && k.header === undefined)
      ctx.addIssue({ code: 'custom', path: ['header'], message: 'required when by is header' });
    if (k.by !== 'header' && k.header !== undefined)
      ctx.addIssue({ code: 'custom', path: ['header'], message: 'only when by is header' });
  });
const limiterName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1-64 letters, digits, "_", "." or "-"' })
  .optional();

export const RateLimitSchema = z
  .strictObject({
    /** At most `count` requests per `window` seconds (windows aligned on the epoch). */
    fixed_window_limiters: z
      .array(
        z.strictObject({
          name: limiterName,
          key: LimiterKeySchema.default({ by: 'ip' }),
          count: z.int().min(1),
          window: z.int().min(1).max(86_400).default(1),
        }),
      )
      .default([]),
    /** `rate` tokens per second refill a bucket of `burst` tokens; each request takes one. */
    token_bucket_limiters: z
      .array(
        z.strictObject({
          name: limiterName,
          key: LimiterKeySchema.default({ by: 'ip' }),
          rate: z.number().positive().max(1_000_000),
          burst: z.int().min(1),
        }),
      )
      .default([]),
    /** local: per gateway process; redis: shared by every gateway (needs REDIS_URL, else local). */
    storage: z.enum(['local', 'redis']).default('local'),
    client_ip_sources: clientIpSources,
    limits_exceeded_error: z
      .strictObject({
        status_code: z.int().min(400).max(599).default(429),
        /** exit: answer the error; log: let the request through and log that it was over. */
        error_handling: z.enum(['exit', 'log']).default('exit'),
      })
      .default({ status_code: 429, error_handling: 'exit' }),
  })
  .superRefine((c, ctx) => {
    if (c.fixed_window_limiters.length + c.token_bucket_limiters.length === 0)
      ctx.addIssue({ code: 'custom', path: [], message: 'needs at least one limiter' });
    const names = new Set<string>();
    for (const kind of ['fixed_window_limiters', 'token_bucket_limiters'] as const) {
      c[kind].forEach((l, i) => {
        if (l.name === undefined) return;
        if (names.has(l.name))
          ctx.addIssue({ code: 'custom', path: [kind, i, 'name'], message: 'duplicate name' });
        names.add(l.name);
      });
    }
  });

export const PayloadLimitsSchema = z.strictObject({
  /** Largest request body in bytes (Content-Length, or bytes streamed); 0: no limit. */
  request: z.int().min(0).default(0),
  /** Largest response body in bytes; 0: no limit. */
  response: z.int().min(0).default(0),
});

export const UpstreamConnectionSchema = z.strictObject({
  /** Seconds to open the TCP (+TLS) connection; exceeded: 502. */
  connect_timeout: seconds.optional(),
  /** Seconds to wait for the response head, and between two body chunks; exceeded: 504. */
  read_timeout: seconds.optional(),
});

export const RETRY_CASES = ['error', 'timeout', 'http_500', 'http_502', 'http_503', 'http_504'] as const;
export const RetrySchema = z.strictObject({
  /** Extra attempts after the first. */
  retries: z.int().min(1).max(10),
  /** error: the connection failed; timeout: no response head in time; http_5xx: that status. */
  retry_on: z
    .array(z.enum(RETRY_CASES))
    .min(1)
    .default(['error', 'timeout', 'http_502', 'http_503', 'http_504']),
});

export const MaintenanceModeSchema = z.strictObject({
  status: z.int().min(200).max(599).default(503),
  message: z.string().max(65_536).default('Service Unavailable - Maintenance'),
  message_content_type: headerValue.min(1).default('text/plain; charset=utf-8'),
  /** Only requests meeting it are answered; absent: every request. */
  condition: ConditionSchema.optional(),
});

export const DefaultCredentialsSchema = z
  .strictObject({
    auth_type: z.enum(['user_key', 'app_id_and_app_key']).default('user_key'),
    user_key: text.optional(),
    app_id: text.optional(),
    app_key: text.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.auth_type === 'user_key') {
      if (c.user_key === undefined)
        ctx.addIssue({ code: 'custom', path: ['user_key'], message: 'required for auth_type user_key' });
      for (const k of ['app_id', 'app_key'] as const)
        if (c[k] !== undefined)
          ctx.addIssue({ code: 'custom', path: [k], message: 'only for auth_type app_id_and_app_key' });
    } else {
      if (c.app_id === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['app_id'],
          message: 'required for auth_type app_id_and_app_key',
        });
      if (c.user_key !== undefined)
        ctx.addIssue({ code: 'custom', path: ['user_key'], message: 'only for auth_type user_key' });
    }
  });

const upstreamUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (
        (u.protocol === 'http:' || u.protocol === 'https:') &&
        !u.search &&
        !u.hash &&
        !u.username &&
        !u.password
      );
    } catch {
      return false;
    }
  },
  { error: 'must be an http(s) URL without query, fragment or credentials' },
);

export const RoutingSchema = z.strictObject({
  /** The first rule whose condition holds picks the upstream; none: the service's upstream. */
  rules: z
    .array(
      z.strictObject({
        url: upstreamUrl,
        /** The Host sent upstream; default the URL's host. */
        host_header: z
          .string()
          .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, { error: 'not a host' })
          .optional(),
        condition: ConditionSchema.default({ operations: [], combine_op: 'and' }),
      }),
    )
    .min(1),
});

export const StatuscodeOverwriteSchema = z
  .strictObject({
    http_statuses: z
      .array(z.strictObject({ upstream: z.int().min(200).max(599), gateway: z.int().min(200).max(599) }))
      .min(1),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<number>();
    c.http_statuses.forEach((s, i) => {
      if (seen.has(s.upstream))
        ctx.addIssue({ code: 'custom', path: ['http_statuses', i, 'upstream'], message: 'listed twice' });
      seen.add(s.upstream);
    });
  });

/** Fields an access-log line may carry (never credentials: paths without the query string). */
export const ACCESS_LOG_FIELDS = [
  'service',
  'method',
  'path',
  'status',
  'latency_ms',
  'upstream_ms',
  'bytes_in',
  'bytes_out',
  'client_ip',
  'host',
  'user_agent',
  'application',
  'upstream',
  'error',
] as const;
const loggedHeader = headerName.refine((h) => !CREDENTIAL_HEADERS.has(h.toLowerCase()), {
  error: 'carries credentials; never logged',
});

export const LoggingSchema = z.strictObject({
  fields: z
    .array(z.enum(ACCESS_LOG_FIELDS))
    .min(1)
    .default([...ACCESS_LOG_FIELDS]),
  /** Request headers to log (by name); a service's credential header is never logged. */
  request_headers: z.array(loggedHeader).default([]),
  response_headers: z.array(loggedHeader).default([]),
  /** Only requests meeting it are logged; absent: every request. */
  condition: ConditionSchema.optional(),
});

/** Each policy's configuration schema, by the name a chain uses. */
export const POLICY_SCHEMAS = {
  cors: CorsSchema,
  headers: HeadersSchema,
  url_rewriting: UrlRewritingSchema,
  ip_check: IpCheckSchema,
  rate_limit: RateLimitSchema,
  payload_limits: PayloadLimitsSchema,
  upstream_connection: UpstreamConnectionSchema,
  retry: RetrySchema,
  maintenance_mode: MaintenanceModeSchema,
  default_credentials: DefaultCredentialsSchema,
  routing: RoutingSchema,
  statuscode_overwrite: StatuscodeOverwriteSchema,
  logging: LoggingSchema,
} as const;

export type PolicyName = keyof typeof POLICY_SCHEMAS;
/** A policy's configuration with every default filled in. */
export type PolicyConfig<N extends PolicyName> = z.output<(typeof POLICY_SCHEMAS)[N]>;
export type ConditionConfig = z.output<typeof ConditionSchema>;

/** The faults of one policy's configuration, paths relative to the configuration. */
export function checkPolicyConfig(name: string, configuration: unknown): PolicyFault[] {
  const schema = (POLICY_SCHEMAS as Record<string, z.ZodType>)[name];
  if (schema === undefined) return [{ path: [], message: `unknown policy "${name}"` }];
  const r = schema.safeParse(configuration ?? {}, { error: zodMessage });
  return r.success ? [] : issueFaults(r.error.issues);
}

/** Checks every policy of a chain (disabled ones too: a bad configuration is refused either way). */
export function checkPolicies(
  chain: readonly { readonly name: PolicyDoc['name'] | string; readonly configuration: unknown }[],
): PolicyFault[] {
  const faults: PolicyFault[] = [];
  chain.forEach((p, i) => {
    for (const f of checkPolicyConfig(p.name, p.configuration))
      faults.push({ path: [i, 'configuration', ...f.path], message: f.message });
  });
  return faults;
}

/**
 * Faults of a chain that depend on its service: default credentials must be of the kind the service's
 * auth mode reads (a user_key for user_key services, an app id for app_id ones; none for oidc).
 */
export function checkChainForService(
  chain: readonly { readonly name: string; readonly configuration: unknown }[],
  authMode: string,
): PolicyFault[] {
  const faults: PolicyFault[] = [];
  chain.forEach((p, i) => {
    if (p.name !== 'default_credentials') return;
    const type = (p.configuration as { auth_type?: unknown } | null)?.auth_type ?? 'user_key';
    if (type !== 'user_key' && type !== 'app_id_and_app_key') return; // the schema reports it
    const fits = type === 'user_key' ? authMode === 'user_key' : authMode === 'app_id';
    if (!fits)
      faults.push({ path: [i, 'configuration', 'auth_type'], message: `does not fit auth mode ${authMode}` });
  });
  return faults;
}

/** Parses a stored configuration with its defaults; throws (naming the fault) when it does not validate. */
export function parsePolicyConfig<N extends PolicyName>(name: N, configuration: unknown): PolicyConfig<N> {
  const r = POLICY_SCHEMAS[name].safeParse(configuration ?? {}, { error: zodMessage });
  if (!r.success) {
    const f = checkPolicyConfig(name, configuration)[0];
    throw new Error(
      `policy ${name}: ${f ? `${f.path.join('.') || '(configuration)'}: ${f.message}` : 'invalid'}`,
    );
  }
  return r.data as PolicyConfig<N>;
}
