/**
 * A service as the gateway runs it, compiled once per config version from the snapshot: routes, credential
 * settings, mapping rules, error answers (3scale's defaults, overridable per service), authorization
 * settings and the policy chain's entries.
 */
import type { ServerResponse } from 'node:http';
import { type CompiledRules, compileMappingRules } from '../domain/mapping.js';
import type { ServiceState } from '../domain/model.js';
import type { PolicyEntry } from '../store/sql/repo/catalog.js';
import type { RemoteBackend, ServiceAuth, ServiceAuthorization } from '../store/sql/repo/records.js';
import type { CredentialSettings } from './credentials.js';
import { compileChain, type PolicyChain } from './policies/chain.js';
import { compileRoutes, type Router } from './router.js';
import type { GatewaySnapshot, SnapshotService } from './snapshot.js';

/** The 3scale/APIcast default error answers of a service (status, text/plain body). */
export const GATEWAY_AUTH_ERRORS = {
  auth_missing: { status: 401, body: 'Authentication parameters missing' },
  auth_failed: { status: 403, body: 'Authentication failed' },
  no_match: { status: 404, body: 'No Mapping Rule matched' },
  limits_exceeded: { status: 429, body: 'Limits Exceeded' },
  service_unavailable: { status: 503, body: 'Service Unavailable' },
} as const;
export type DenyCode = keyof typeof GATEWAY_AUTH_ERRORS;
const DEFAULT_CONTENT_TYPE = 'text/plain; charset=us-ascii';

/** One error answer, serialised once. */
export interface CompiledError {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

/** One service as the gateway runs it: compiled once per config version. */
export interface GatewayService {
  readonly id: string;
  readonly tenantId: string;
  readonly systemName: string;
  readonly state: ServiceState;
  readonly providerKey: string;
  /** The service's credential settings as configured (oidc issuer, jwks_url, audience included). */
  readonly authConfig: ServiceAuth;
  readonly auth: CredentialSettings;
  readonly rules: CompiledRules;
  /** Metric id → system name (the authorization core takes usage by name). */
  readonly metricNames: ReadonlyMap<string, string>;
  /** Metric system name → id, and id → parent id (for usage built here: remote backends). */
  readonly metricIds: ReadonlyMap<string, string>;
  readonly metricParents: ReadonlyMap<string, string>;
  readonly authorization: ServiceAuthorization;
  /** A remote 3scale-compatible backend to authorize against, or null for Tollgate's own core. */
  readonly backend: RemoteBackend | null;
  readonly errors: Readonly<Record<DenyCode, CompiledError>>;
  /** Add `RateLimit-Limit/Remaining/Reset` to answers. */
  readonly rateLimitHeaders: boolean;
  /** The policy chain's entries, in order (compiled by the policy chain). */
  readonly policies: readonly PolicyEntry[];
  /** The compiled chain of the enabled policies; null (or absent) when there are none: the plain fast path. */
  readonly chain?: PolicyChain | null;
}

export interface GatewayConfig {
  /** The snapshot's version this config was compiled from. */
  readonly version: string;
  readonly router: Router;
  readonly services: ReadonlyMap<string, GatewayService>;
  /** Services left out of this version (one tenant's fault must not stop the others' configs). */
  readonly skipped: readonly { readonly serviceId: string; readonly reason: string }[];
}

function compileErrors(custom: GatewayServiceErrors | undefined): Record<DenyCode, CompiledError> {
  const out = {} as Record<DenyCode, CompiledError>;
  for (const code of Object.keys(GATEWAY_AUTH_ERRORS) as DenyCode[]) {
    const d = GATEWAY_AUTH_ERRORS[code];
    const c = code === 'service_unavailable' ? undefined : custom?.[code];
    out[code] = Object.freeze({
      status: c?.status ?? d.status,
      contentType: c?.content_type ?? DEFAULT_CONTENT_TYPE,
      body: Buffer.from(c?.body ?? d.body),
    });
  }
  return out;
}
type GatewayServiceErrors = GatewaySnapshot['services'][number]['gateway']['errors'];

/** Compiles a snapshot; throws when a part does not compile (the caller keeps its last good config). */
export function compileGatewayConfig(snapshot: GatewaySnapshot): GatewayConfig {
  const services = new Map<string, GatewayService>();
  const skipped: { serviceId: string; reason: string }[] = [];
  const skip = (serviceId: string, reason: string): void => {
    skipped.push({ serviceId, reason });
  };
  for (const s of snapshot.services) {
    try {
      services.set(s.id, compileService(s));
    } catch (err) {
      skip(s.id, (err as Error).message);
    }
  }
  const router = compileRoutes(
    snapshot.services
      .filter((s) => services.has(s.id))
      .map((s) => ({
        id: s.id,
        hosts: s.hosts,
        upstream: s.upstream,
        ...(s.gateway.path_prefix !== undefined ? { pathPrefix: s.gateway.path_prefix } : {}),
      })),
    skip,
  );
  return { version: snapshot.version, router, services, skipped };
}

function compileService(s: SnapshotService): GatewayService {
  const auth: CredentialSettings = {
    mode: s.auth.mode,
    location: s.auth.location,
    param: s.auth.param,
    ...(s.auth.key_param !== undefined ? { key_param: s.auth.key_param } : {}),
  };
  const errors = compileErrors(s.gateway.errors);
  return {
    id: s.id,
    tenantId: s.tenantId,
    systemName: s.systemName,
    state: s.state,
    providerKey: s.providerKey,
    authConfig: s.auth,
    auth,
    rules: compileMappingRules(s.mappingRules.map((r) => ({ ...r }))),
    metricNames: new Map(s.metrics.map((m) => [m.id, m.systemName])),
    metricIds: new Map(s.metrics.map((m) => [m.systemName, m.id])),
    metricParents: new Map(
      s.metrics.flatMap((m) => (m.parentId === undefined ? [] : [[m.id, m.parentId] as const])),
    ),
    authorization: s.authorization,
    backend: s.gateway.backend ?? null,
    errors,
    rateLimitHeaders: s.gateway.rate_limit_headers === true,
    policies: s.policies,
    chain: compileChain(s.policies, { id: s.id, auth, errors }),
  };
}

/** Writes one of the service's error answers (extra headers such as Retry-After may be added). */
export function sendServiceError(
  res: ServerResponse,
  e: CompiledError,
  extra?: Readonly<Record<string, string | number>>,
): void {
  const headers: Record<string, string | number> = {
    'content-type': e.contentType,
    'content-length': e.body.length,
  };
  if (extra !== undefined) Object.assign(headers, extra);
  res.writeHead(e.status, headers);
  res.end(e.body);
}
