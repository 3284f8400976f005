/** A service compiled once for the hot path: metric names ↔ ids, ancestor chains, direct children. */
import { type MetricDef, PERIODS, type ServiceView } from './model.js';

/** What the authorization core derives from a service's metric tree; built once per ServiceView object. */
export interface CompiledService {
  readonly service: ServiceView;
  /** Metric system name → metric id. */
  readonly idByName: ReadonlyMap<string, string>;
  /** Metric id → metric system name. */
  readonly nameById: ReadonlyMap<string, string>;
  /** Metric id → ancestor ids, nearest (parent) first. Cycles and dangling parents are cut. */
  readonly ancestors: ReadonlyMap<string, readonly string[]>;
  /** Metric name → its direct children's names joined by one space ("" when none), as in 3scale's hierarchy. */
  readonly childrenByName: ReadonlyMap<string, string>;
  /** Metric id → indexes into PERIODS of the periods counted for it (see ServiceView.countedPeriods). */
  readonly counted: (metricId: string) => readonly number[];
}

const NO_ANCESTORS: readonly string[] = Object.freeze([]);
// ServiceView objects are immutable snapshots: a new object means a new config, so identity is the cache key.
const cache = new WeakMap<ServiceView, CompiledService>();

/** The compiled form of `service`, cached per object. */
export function compileService(service: ServiceView): CompiledService {
  let c = cache.get(service);
  if (c === undefined) {
    c = build(service);
    cache.set(service, c);
  }
  return c;
}

function build(service: ServiceView): CompiledService {
  const byId = new Map<string, MetricDef>();
  const idByName = new Map<string, string>();
  const nameById = new Map<string, string>();
  for (const m of service.metrics) {
    byId.set(m.id, m);
    idByName.set(m.systemName, m.id);
    nameById.set(m.id, m.systemName);
  }
  const ancestors = new Map<string, readonly string[]>();
  const children = new Map<string, string[]>();
  for (const m of service.metrics) {
    const chain: string[] = [];
    const seen = new Set<string>([m.id]);
    let parent = m.parentId;
    while (parent !== null && byId.has(parent) && !seen.has(parent)) {
      chain.push(parent);
      seen.add(parent);
      parent = byId.get(parent)!.parentId;
    }
    ancestors.set(m.id, chain.length === 0 ? NO_ANCESTORS : chain);
    if (m.parentId !== null && byId.has(m.parentId) && m.parentId !== m.id) {
      const list = children.get(m.parentId) ?? [];
      list.push(m.systemName);
      children.set(m.parentId, list);
    }
  }
  const childrenByName = new Map<string, string>();
  for (const m of service.metrics) childrenByName.set(m.systemName, (children.get(m.id) ?? []).join(' '));
  const counted = countedIndexes(service);
  return { service, idByName, nameById, ancestors, childrenByName, counted };
}

const ALL_PERIODS: readonly number[] = Object.freeze(PERIODS.map((_, i) => i));
const NO_PERIODS: readonly number[] = Object.freeze([]);

function countedIndexes(service: ServiceView): (metricId: string) => readonly number[] {
  const spec = service.countedPeriods;
  if (spec === undefined) return () => ALL_PERIODS;
  const byMetric = new Map<string, readonly number[]>();
  for (const [metricId, periods] of Object.entries(spec)) {
    byMetric.set(
      metricId,
      PERIODS.flatMap((p, i) => (periods.includes(p) ? [i] : [])),
    );
  }
  return (metricId) => byMetric.get(metricId) ?? NO_PERIODS;
}

/** Ancestor ids of `metricId` (nearest first); empty for roots and unknown ids. */
export function ancestorsOf(c: CompiledService, metricId: string): readonly string[] {
  return c.ancestors.get(metricId) ?? NO_ANCESTORS;
}
