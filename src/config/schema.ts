/**
 * The declarative config, version 1: one zod schema (strict objects: unknown fields are refused) whose
 * output carries every default explicitly. Cross-references are checked in validate.ts.
 */
import { z } from 'zod';
import { APP_STATES, AUTH_MODES, AUTHORIZATION_MODES, SERVICE_STATES } from '../domain/model.js';

/** Every admin API scope; config tokens get all of them unless `scopes` says less. */
export const ADMIN_SCOPES = ['management', 'analytics', 'billing'] as const;
export const PLAN_STATES = ['published', 'hidden'] as const;
export const ACCOUNT_STATES = ['approved', 'pending', 'suspended'] as const;
export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'TRACE',
  'CONNECT',
  // APIcast's wildcard: the rule matches every method.
  'ANY',
] as const;
export const AUTH_LOCATIONS = ['query', 'header'] as const;
export const STORE_FAILURE_MODES = ['deny', 'allow'] as const;
/** The gateway's policies, in the names a chain uses (per-policy configuration checks come with the gateway). */
export const POLICY_NAMES = [
  'cors',
  'headers',
  'url_rewriting',
  'ip_check',
  'rate_limit',
  'payload_limits',
  'upstream_connection',
  'retry',
  'maintenance_mode',
  'default_credentials',
  'routing',
  'statuscode_overwrite',
  'logging',
] as const;

/** `sha256:<64 hex>`: how a hashed secret is written (export writes stored secrets this way). */
export const HASH_RE = /^sha256:[0-9a-f]{64}$/;
const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SYSTEM_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;
const SERVICE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const APP_ID_RE = /^[A-Za-z0-9_.:-]{1,255}$/;
const DECIMAL_RE = /^\d+(\.\d+)?$/;
const HOST_RE =
  /^(?=.{1,253}$)[A-Za-z0-9*](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d{1,5})?$/;

const text = z.string().min(1);
const systemName = z.string().regex(SYSTEM_NAME_RE, {
  error: 'must be 1-255 letters, digits, "_", "-" or "." (not starting with "-" or ".")',
});
const decimal = z
  .string({ error: 'must be a decimal string such as "10.00"' })
  .regex(DECIMAL_RE, { error: 'must be a decimal string such as "10.00"' });
const hash = z.string().regex(HASH_RE, { error: 'must be "sha256:" followed by 64 lowercase hex digits' });
const url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const count = z.int().min(0);
/** An upstream base URL: http(s), no credentials, query or fragment (the gateway appends the request's). */
const upstreamUrl = url.refine(
  (u) => {
    const p = URL.parse(u);
    return p !== null && p.username === '' && p.password === '' && p.search === '' && p.hash === '';
  },
  { error: 'must not carry credentials, a query or a fragment' },
);

export const AdminTokenSchema = z.strictObject({
  name: text,
  /** The token in plain; stored as its SHA-256 digest. */
  value: z.string().min(8).optional(),
  /** The token's digest, as export writes it. */
  hash: hash.optional(),
  scopes: z.array(z.enum(ADMIN_SCOPES)).optional(),
  read_only: z.boolean().default(false),
  /** ISO 8601 instant. */
  expires_at: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
});

export const AuthSchema = z.strictObject({
  mode: z.enum(AUTH_MODES).default('user_key'),
  location: z.enum(AUTH_LOCATIONS).optional(),
  /** Credential parameter (user_key mode), app id parameter (app_id mode) or header (oidc). */
  param: text.optional(),
  /** app_id mode only: the app key parameter. */
  key_param: text.optional(),
  /** oidc mode only: the issuer whose JWKS signs the tokens (its `iss` claim must equal this). */
  issuer: url.optional(),
  /** oidc mode only: where the issuer's JWKS lives; default `<issuer>/.well-known/openid-configuration`'s `jwks_uri`. */
  jwks_url: url.optional(),
  /** oidc mode only: an `aud` the token must carry (any audience when absent). */
  audience: text.optional(),
});

export const AuthorizationSchema = z.strictObject({
  mode: z.enum(AUTHORIZATION_MODES).default('strict'),
  on_store_failure: z.enum(STORE_FAILURE_MODES).default('deny'),
  /** batched: how often cached decisions are refreshed and local usage is flushed to the store. */
  flush_ms: z.int().min(1).max(60_000).optional(),
  /** leased: how many units of a limit one lease reserves (default: a share of the limit). */
  lease_size: z.int().min(1).optional(),
  /** Longest wait for one counter-store call before it counts as a store failure. */
  store_timeout_ms: z.int().min(1).max(10_000).optional(),
});

/** The gateway's configurable error answers (3scale's "auth missing", "auth failed", "no match", "limits exceeded"). */
export const GATEWAY_ERROR_CODES = ['auth_missing', 'auth_failed', 'no_match', 'limits_exceeded'] as const;

export const ErrorAnswerSchema = z.strictObject({
  status: z.int().min(200).max(599),
  /** Default `text/plain; charset=us-ascii`. */
  content_type: text.optional(),
  /** Default: 3scale's message for the error. */
  body: z.string().max(65_536).optional(),
});

export const ServiceErrorsSchema = z.strictObject({
  auth_missing: ErrorAnswerSchema.optional(),
  auth_failed: ErrorAnswerSchema.optional(),
  no_match: ErrorAnswerSchema.optional(),
  limits_exceeded: ErrorAnswerSchema.optional(),
});

export const REMOTE_BACKEND_MODES = ['authrep', 'cached'] as const;

/** A 3scale-compatible Service Management API the gateway authorizes against instead of Tollgate's own core. */
export const RemoteBackendSchema = z.strictObject({
  /** Base URL, e.g. `https://su1.3scale.net` or another Tollgate's backend port. */
  url,
  /** `authrep`: one authrep per request; `cached`: cached authorize answers + batched reports. */
  mode: z.enum(REMOTE_BACKEND_MODES).default('authrep'),
  /** Credentials at the remote: a service token (sent with service_id) or the provider key. */
  service_token: text.optional(),
  provider_key: text.optional(),
  /** The service's id at the remote; default this service's id. */
  service_id: z
    .string()
    .regex(SERVICE_ID_RE, { error: 'must be 1-64 letters, digits, "_" or "-"' })
    .optional(),
  /** cached: how long an authorize answer is reused and how often usage is reported. */
  flush_ms: z.int().min(10).max(60_000).optional(),
  /** Longest wait for one call to the remote. */
  timeout_ms: z.int().min(1).max(60_000).optional(),
});

export const MetricSchema = z.strictObject({
  system_name: systemName,
  /** Friendly name; defaults to system_name. */
  name: text.optional(),
  unit: text.default('hit'),
  parent: z.string().optional(),
});

export const MappingRuleSchema = z.strictObject({
  method: z.enum(HTTP_METHODS, { error: 'not an HTTP method (GET, POST, PUT, PATCH, DELETE, …)' }),
  pattern: z.string().startsWith('/', { error: 'must start with "/"' }),
  metric: z.string(),
  delta: z.int().min(1).default(1),
  last: z.boolean().default(false),
});

export const PricingRuleSchema = z.strictObject({
  metric: z.string(),
  from: z.int().min(1).default(1),
  to: z.int().min(1).optional(),
  price_per_unit: decimal,
});

export const PricingSchema = z.strictObject({
  monthly_fee: decimal.default('0'),
  setup_fee: decimal.default('0'),
  trial_days: count.default(0),
  rules: z.array(PricingRuleSchema).default([]),
});

export const PlanSchema = z.strictObject({
  system_name: systemName,
  name: text.optional(),
  state: z.enum(PLAN_STATES).default('published'),
  /** Applications on this plan start pending until the provider approves them. */
  approval_required: z.boolean().default(false),
  /** The service's default plan (at most one; none when no plan says so). */
  default: z.boolean().optional(),
  /** system_names of the service's features this plan includes. */
  features: z.array(z.string()).default([]),
  /** metric → period → max. Periods and metric names are checked in validate.ts (precise messages). */
  limits: z.record(z.string(), z.record(z.string(), count)).default({}),
  pricing: PricingSchema.default({ monthly_fee: '0', setup_fee: '0', trial_days: 0, rules: [] }),
});

export const PolicySchema = z.strictObject({
  name: z.enum(POLICY_NAMES),
  enabled: z.boolean().default(true),
  configuration: z.record(z.string(), z.unknown()).default({}),
});

export const FeatureSchema = z.strictObject({
  system_name: systemName,
  /** Defaults to system_name. */
  name: text.optional(),
  description: z.string().optional(),
});

export const ServiceTokenSchema = z.union([text, z.strictObject({ hash })], {
  error: 'must be a token string or { hash: "sha256:<hex>" }',
});

export const ServiceSchema = z.strictObject({
  id: z.string().regex(SERVICE_ID_RE, { error: 'must be 1-64 letters, digits, "_" or "-"' }).optional(),
  system_name: systemName,
  name: text.optional(),
  state: z.enum(SERVICE_STATES).default('active'),
  /** The tenant's default service (at most one); else the first service is. */
  default: z.boolean().optional(),
  service_token: text.optional(),
  service_tokens: z.array(ServiceTokenSchema).optional(),
  upstream: upstreamUrl.optional(),
  hosts: z.array(z.string().regex(HOST_RE, { error: 'not a host name' })).default([]),
  /** Where several services share a host: the path prefix this one answers (matched on segment boundaries). */
  path_prefix: z
    .string()
    .regex(/^\/[^?#\s]*$/, { error: 'must be a path starting with "/" (no query, no spaces)' })
    .optional(),
  auth: AuthSchema.default({ mode: 'user_key' }),
  referrer_filters_required: z.boolean().default(false),
  authorization: AuthorizationSchema.default({ mode: 'strict', on_store_failure: 'deny' }),
  metrics: z.array(MetricSchema).default([]),
  mapping_rules: z.array(MappingRuleSchema).default([]),
  /** The gateway's policy chain, in order. */
  policies: z.array(PolicySchema).default([]),
  /** The gateway's error answers, per error (3scale's defaults where absent). */
  errors: ServiceErrorsSchema.optional(),
  /** Add `RateLimit-Limit/Remaining/Reset` to the gateway's answers. */
  rate_limit_headers: z.boolean().optional(),
  /** Authorize against a remote 3scale-compatible backend instead of Tollgate's own. */
  backend: RemoteBackendSchema.optional(),
  /** Features the service's plans may include. */
  features: z.array(FeatureSchema).default([]),
  plans: z.array(PlanSchema).default([]),
});

export const ApplicationSchema = z.strictObject({
  name: text,
  /** system_name of a service of the tenant. */
  service: z.string(),
  /** system_name of a plan of that service. */
  plan: z.string(),
  state: z.enum(APP_STATES).default('active'),
  app_id: z.string().regex(APP_ID_RE, { error: 'must be 1-255 letters, digits or "_.:-"' }).optional(),
  user_key: text.optional(),
  app_keys: z.array(text).default([]),
  referrer_filters: z.array(text).default([]),
  redirect_url: url.optional(),
  description: z.string().max(2000).optional(),
});

export const AccountSchema = z.strictObject({
  name: text,
  email: z.email({ error: 'not an email address' }).optional(),
  /** A pending or suspended account's applications are refused. */
  state: z.enum(ACCOUNT_STATES).default('approved'),
  applications: z.array(ApplicationSchema).default([]),
});

export const TenantSchema = z.strictObject({
  name: z.string().regex(SLUG_RE, {
    error: 'must be a slug: lowercase letters, digits and "-", at most 63, not starting or ending with "-"',
  }),
  provider_key: text,
  admin_tokens: z.array(AdminTokenSchema).default([]),
  services: z.array(ServiceSchema).default([]),
  accounts: z.array(AccountSchema).default([]),
});

export const ConfigSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1' }),
  tenants: z.array(TenantSchema).default([]),
});

/** A parsed config document: every default filled in. */
export type ConfigDoc = z.output<typeof ConfigSchema>;
/** What a person writes (defaults optional). */
export type ConfigInput = z.input<typeof ConfigSchema>;
export type TenantDoc = ConfigDoc['tenants'][number];
export type ServiceDoc = TenantDoc['services'][number];
export type PlanDoc = ServiceDoc['plans'][number];
export type MetricDoc = ServiceDoc['metrics'][number];
export type AccountDoc = TenantDoc['accounts'][number];
export type ApplicationDoc = AccountDoc['applications'][number];
export type AdminTokenDoc = TenantDoc['admin_tokens'][number];
export type PolicyDoc = ServiceDoc['policies'][number];
