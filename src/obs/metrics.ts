/** Prometheus metrics: one registry per process, default Node metrics plus each part's own. */
import { collectDefaultMetrics, Registry } from 'prom-client';

export function createRegistry(): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app: 'tollgate' });
  // The event-loop delay histogram samples every 100 ms instead of prom-client's 10: a stall still shows
  // in full, and an idle process wakes 10 times a second for it instead of 100 (docs/operations.md).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  return registry;
}
