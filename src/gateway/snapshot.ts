/**
 * The gateway's config snapshot: plain data, versioned, built from the control plane's SQL state. The
 * embedded gateway builds it in process; distributed gateways fetch it from the control plane. Either way
 * `compileGatewayConfig` turns it into what the request path runs.
 */
import type { ServiceState } from '../domain/model.js';
import type { PolicyEntry } from '../store/sql/repo/catalog.js';
import type { ServiceAuth, ServiceAuthorization, ServiceGateway } from '../store/sql/repo/records.js';
import type { TenantState } from '../store/sql/repo/state.js';

export interface SnapshotService {
  readonly id: string;
  readonly tenantId: string;
  readonly systemName: string;
  readonly state: ServiceState;
  /** The tenant's provider key: what the local authorization core authenticates the call with. */
  readonly providerKey: string;
  readonly upstream: string;
  readonly hosts: readonly string[];
  readonly auth: ServiceAuth;
  readonly authorization: ServiceAuthorization;
  readonly gateway: ServiceGateway;
  readonly policies: readonly PolicyEntry[];
  readonly metrics: readonly {
    readonly id: string;
    readonly systemName: string;
    /** The parent metric's id (usage rolls up into it); absent for a top-level metric. */
    readonly parentId?: string;
  }[];
  readonly mappingRules: readonly {
    readonly method: string;
    readonly pattern: string;
    readonly metricId: string;
    readonly delta: number;
    readonly last: boolean;
  }[];
}

export interface GatewaySnapshot {
  /** Changes whenever any tenant's config version changes: `tenantId:version` pairs, sorted. */
  readonly version: string;
  readonly services: readonly SnapshotService[];
}

/** One tenant's input: its SQL state, its services' policy chains and its config version. */
export interface SnapshotTenant {
  readonly state: TenantState;
  readonly policies: ReadonlyMap<string, readonly PolicyEntry[]>;
  readonly version: number;
}

/** Builds the snapshot; services without hosts or upstream are not served by gateways and are left out. */
export function buildSnapshot(tenants: readonly SnapshotTenant[]): GatewaySnapshot {
  const services: SnapshotService[] = [];
  const versions: string[] = [];
  for (const { state: s, policies, version } of tenants) {
    versions.push(`${s.tenant.id}:${version}`);
    for (const svc of s.services) {
      if (svc.hosts.length === 0 || svc.upstream === null) continue;
      services.push({
        id: svc.id,
        tenantId: s.tenant.id,
        systemName: svc.systemName,
        state: svc.state,
        providerKey: s.tenant.providerKey,
        upstream: svc.upstream,
        hosts: svc.hosts,
        auth: svc.auth,
        authorization: svc.authorization,
        gateway: svc.gateway,
        policies: policies.get(svc.id) ?? [],
        metrics: s.metrics
          .filter((m) => m.serviceId === svc.id)
          .map((m) =>
            m.parentId === null
              ? { id: m.id, systemName: m.systemName }
              : { id: m.id, systemName: m.systemName, parentId: m.parentId },
          ),
        mappingRules: s.mappingRules
          .filter((r) => r.serviceId === svc.id)
          .map((r) => ({
            method: r.method,
            pattern: r.pattern,
            metricId: r.metricId,
            delta: r.delta,
            last: r.last,
          })),
      });
    }
  }
  return { version: versions.sort().join(','), services };
}
