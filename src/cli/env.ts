/**
 * The process environment, read once and validated. The only module that touches `process.env`;
 * everything else receives the parsed, frozen value.
 */
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);

const EnvSchema = z.object({
  TOLLGATE_ADMIN_PORT: port.optional(),
  TOLLGATE_BACKEND_PORT: port.optional(),
  TOLLGATE_GATEWAY_PORT: port.optional(),
  TOLLGATE_HOST: z.string().min(1).optional(),
  TOLLGATE_DATA_DIR: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL (leave unset for the embedded SQLite file)')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  TOLLGATE_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]*$/, 'letters, digits and _ . : - only')
    .optional(),
  TOLLGATE_PG_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .optional(),
  TOLLGATE_URL: z
    .string()
    .regex(/^https?:\/\//, 'must be an http(s):// URL of the admin API')
    .optional(),
  TOLLGATE_TOKEN: z.string().min(1).optional(),
  TOLLGATE_PLATFORM_TOKEN: z
    .string()
    .min(24, 'must be at least 24 characters (it grants platform-wide rights)')
    .optional(),
  /** A gateway-only process takes its config from this control plane (admin API) instead of SQL. */
  TOLLGATE_CONTROL_PLANE_URL: z
    .string()
    .regex(/^https?:\/\//, 'must be an http(s):// URL of the control plane (admin API)')
    .optional(),
  /** A platform token the gateway presents to the control plane. */
  TOLLGATE_CONTROL_PLANE_TOKEN: z
    .string()
    .min(24, 'must be a platform token (at least 24 characters)')
    .optional(),
  /** Most usage events a gateway holds while the usage log is slow or down (past it, events are dropped). */
  TOLLGATE_USAGE_QUEUE_MAX: z.coerce.number().int().min(1000).max(100_000_000).optional(),
  /** Client for bodiless requests to http: upstreams: the gateway's own lane (default) or undici. */
  TOLLGATE_UPSTREAM_CLIENT: z.enum(['lane', 'undici']).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

export type Env = Readonly<z.infer<typeof EnvSchema>>;

/** Parses the variables Tollgate reads; throws one message naming every bad variable. */
export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const v = source[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = EnvSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid environment:\n  ${lines.join('\n  ')}`);
  }
  if (parsed.data.TOLLGATE_CONTROL_PLANE_URL && !parsed.data.TOLLGATE_CONTROL_PLANE_TOKEN) {
    throw new Error(
      'invalid environment:\n  TOLLGATE_CONTROL_PLANE_TOKEN: required with TOLLGATE_CONTROL_PLANE_URL (a platform token)',
    );
  }
  return Object.freeze(parsed.data);
}
