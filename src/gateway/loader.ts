/**
 * Keeps a gateway's config current: builds it from SQL at start, then polls the tenants' config versions
 * and rebuilds on a change (a config that does not compile is logged and the last good one stays).
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../obs/logger.js';
import { loadCatalogState } from '../store/sql/repo/catalog.js';
import { loadTenantState } from '../store/sql/repo/state.js';
import { listTenants, tenantConfigVersions } from '../store/sql/repo/tenants.js';
import type { DB } from '../store/sql/schema.js';
import { compileGatewayConfig, type GatewayConfig } from './service.js';
import { buildSnapshot, type GatewaySnapshot, type SnapshotTenant } from './snapshot.js';

/** The gateways' config snapshot, from SQL. */
export async function loadGatewaySnapshot(db: Kysely<DB>): Promise<GatewaySnapshot> {
  const versions = await tenantConfigVersions(db);
  const tenants: SnapshotTenant[] = [];
  for (const t of await listTenants(db)) {
    const state = await loadTenantState(db, t.id);
    if (!state) continue;
    const cat = await loadCatalogState(db, t.id);
    tenants.push({ state, policies: cat.policies, version: versions.get(t.id) ?? 0 });
  }
  return buildSnapshot(tenants);
}

export async function loadGatewayConfig(db: Kysely<DB>): Promise<GatewayConfig> {
  return compileGatewayConfig(await loadGatewaySnapshot(db));
}

function sameVersions(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Polls for config changes every `intervalMs` and hands each new config to `install`. */
export function watchGatewayConfig(
  db: Kysely<DB>,
  install: (config: GatewayConfig) => void,
  logger: Logger,
  intervalMs = 250,
): { stop(): Promise<void> } {
  let versions: Map<string, number> | null = null;
  let running: Promise<void> = Promise.resolve();
  const poll = async () => {
    const now = await tenantConfigVersions(db);
    if (versions !== null && sameVersions(versions, now)) return;
    const first = versions === null;
    versions = now;
    if (first) return;
    try {
      install(await loadGatewayConfig(db));
      logger.info('gateway config reloaded');
    } catch (err) {
      logger.error({ err }, 'gateway config not installed; keeping the last good one');
    }
  };
  const timer = setInterval(() => {
    running = running.then(poll).catch((err) => logger.warn({ err }, 'gateway config poll failed'));
  }, intervalMs);
  timer.unref();
  running = poll();
  return {
    async stop() {
      clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}
