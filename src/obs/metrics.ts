/** Prometheus metrics: one registry per process, default Node metrics plus each part's own. */
import { collectDefaultMetrics, Registry } from 'prom-client';

export function createRegistry(): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app: 'tollgate' });
  collectDefaultMetrics({ register: registry });
  return registry;
}
