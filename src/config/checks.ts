/**
 * Cross-reference checks of a schema-valid config: uniqueness, references between objects, metric
 * tree, periods, and which credentials fit which auth mode. Pure; returns every fault found.
 */
import { PERIODS } from '../domain/model.js';
import { routeKey } from '../gateway/router.js';
import { type ConfigFault, formatPath } from './faults.js';
import { checkChainForService, checkPolicies } from './policies.js';
import type { ConfigDoc, MetricDoc, ServiceDoc, TenantDoc } from './schema.js';
import { digestOf, serviceTokenDigests } from './secrets.js';

type Seg = string | number;
type Report = (path: readonly Seg[], message: string) => void;

const MAX_APP_KEYS = 5;
const periods: ReadonlySet<string> = new Set(PERIODS);

/** Runs every cross-reference check over the document. */
export function crossCheck(doc: ConfigDoc): ConfigFault[] {
  const faults: ConfigFault[] = [];
  const report: Report = (path, message) => faults.push({ path: formatPath(path), message });
  const names = new Map<string, number>();
  const providerKeys = new Map<string, number>();
  const serviceIds = new Map<string, string>();
  const adminHashes = new Map<string, string>();
  const routes = new Map<string, string>();
  doc.tenants.forEach((t, ti) => {
    const at: Seg[] = ['tenants', ti];
    firstSeen(names, t.name, ti, (prev) =>
      report([...at, 'name'], `duplicate tenant name (also tenants[${prev}])`),
    );
    firstSeen(providerKeys, t.provider_key, ti, (prev) =>
      report([...at, 'provider_key'], `provider key already used by tenants[${prev}]`),
    );
    checkAdminTokens(t, at, adminHashes, report);
    t.services.forEach((s, si) => {
      const here = formatPath([...at, 'services', si]);
      s.hosts.forEach((h, hi) => {
        const key = routeKey(h, s.path_prefix);
        firstSeen(routes, key, here, (prev) =>
          report([...at, 'services', si, 'hosts', hi], `host and path prefix already served by ${prev}`),
        );
      });
    });
    t.services.forEach((s, si) => {
      if (s.id === undefined) return;
      const here = formatPath([...at, 'services', si]);
      firstSeen(serviceIds, s.id, here, (prev) =>
        report([...at, 'services', si, 'id'], `duplicate service id (also ${prev})`),
      );
    });
    checkTenant(t, at, report);
  });
  return faults;
}

function firstSeen<K, V>(seen: Map<K, V>, key: K, value: V, dup: (prev: V) => void): void {
  const prev = seen.get(key);
  if (prev !== undefined) dup(prev);
  else seen.set(key, value);
}

function checkAdminTokens(t: TenantDoc, at: Seg[], hashes: Map<string, string>, report: Report): void {
  const names = new Set<string>();
  t.admin_tokens.forEach((tok, i) => {
    const p = [...at, 'admin_tokens', i];
    if (names.has(tok.name)) report([...p, 'name'], 'duplicate admin token name');
    names.add(tok.name);
    if ((tok.value === undefined) === (tok.hash === undefined)) {
      report(p, 'give exactly one of value or hash');
      return;
    }
    const d = digestOf(tok);
    firstSeen(hashes, d, formatPath(p), (prev) =>
      report([...p, tok.value !== undefined ? 'value' : 'hash'], `the same token as ${prev}`),
    );
  });
}

function checkTenant(t: TenantDoc, at: Seg[], report: Report): void {
  const services = new Map<string, ServiceDoc>();
  let defaults = 0;
  t.services.forEach((s, si) => {
    const p = [...at, 'services', si];
    if (services.has(s.system_name)) report([...p, 'system_name'], 'duplicate service system_name');
    else services.set(s.system_name, s);
    if (s.default === true && ++defaults > 1)
      report([...p, 'default'], 'only one service can be the default');
    checkService(s, p, report);
  });
  const accounts = new Set<string>();
  // (service, user_key) and (service, app_id) are unique across every account of the tenant.
  const userKeys = new Map<string, string>();
  const appIds = new Map<string, string>();
  t.accounts.forEach((a, ai) => {
    const ap = [...at, 'accounts', ai];
    if (accounts.has(a.name)) report([...ap, 'name'], 'duplicate account name');
    accounts.add(a.name);
    a.applications.forEach((app, i) => {
      const p = [...ap, 'applications', i];
      const svc = services.get(app.service);
      if (!svc) {
        report([...p, 'service'], `unknown service "${app.service}"`);
        return;
      }
      if (!svc.plans.some((pl) => pl.system_name === app.plan))
        report([...p, 'plan'], `unknown plan "${app.plan}" of service "${app.service}"`);
      // Credentials are not tied to the service's auth mode (3scale keeps both on every application and
      // a service may switch modes); the backend only authenticates the kind its mode names.
      if (app.app_keys.length > MAX_APP_KEYS) report([...p, 'app_keys'], `at most ${MAX_APP_KEYS} app_keys`);
      duplicates(app.app_keys, (j) => report([...p, 'app_keys', j], 'duplicate app key'));
      duplicates(app.referrer_filters, (j) =>
        report([...p, 'referrer_filters', j], 'duplicate referrer filter'),
      );
      const here = formatPath(p);
      if (app.user_key !== undefined)
        firstSeen(userKeys, `${app.service}\n${app.user_key}`, here, (prev) =>
          report([...p, 'user_key'], `user_key already used in service "${app.service}" by ${prev}`),
        );
      if (app.app_id !== undefined)
        firstSeen(appIds, `${app.service}\n${app.app_id}`, here, (prev) =>
          report([...p, 'app_id'], `app_id already used in service "${app.service}" by ${prev}`),
        );
    });
  });
}

function duplicates(values: readonly string[], dup: (index: number) => void): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (seen.has(v)) dup(i);
    seen.add(v);
  });
}

function checkService(s: ServiceDoc, at: Seg[], report: Report): void {
  const metrics = new Map<string, MetricDoc>();
  s.metrics.forEach((m, i) => {
    if (metrics.has(m.system_name))
      report([...at, 'metrics', i, 'system_name'], 'duplicate metric system_name');
    else metrics.set(m.system_name, m);
  });
  s.metrics.forEach((m, i) => {
    if (m.parent === undefined) return;
    if (!metrics.has(m.parent)) report([...at, 'metrics', i, 'parent'], `unknown metric "${m.parent}"`);
    else {
      const cycle = cycleFrom(m, metrics);
      if (cycle) report([...at, 'metrics', i, 'parent'], `cycle in metric parents: ${cycle.join(' -> ')}`);
    }
  });
  const known = (name: string) => metrics.has(name);
  if (s.auth.key_param !== undefined && s.auth.mode !== 'app_id')
    report([...at, 'auth', 'key_param'], 'only for auth mode app_id');
  for (const k of ['issuer', 'jwks_url', 'audience'] as const) {
    if (s.auth[k] !== undefined && s.auth.mode !== 'oidc')
      report([...at, 'auth', k], 'only for auth mode oidc');
  }
  if (s.auth.mode === 'oidc' && s.auth.issuer === undefined)
    report([...at, 'auth', 'issuer'], 'required for auth mode oidc (the issuer whose keys sign the tokens)');
  if (
    s.backend !== undefined &&
    s.backend.service_token === undefined &&
    s.backend.provider_key === undefined
  )
    report([...at, 'backend'], 'needs service_token or provider_key (the credentials at the remote backend)');
  if (s.authorization.flush_ms !== undefined && s.authorization.mode !== 'batched')
    report([...at, 'authorization', 'flush_ms'], 'only for authorization mode batched');
  if (s.authorization.lease_size !== undefined && s.authorization.mode !== 'leased')
    report([...at, 'authorization', 'lease_size'], 'only for authorization mode leased');
  for (const f of checkPolicies(s.policies)) report([...at, 'policies', ...f.path], f.message);
  for (const f of checkChainForService(s.policies, s.auth.mode))
    report([...at, 'policies', ...f.path], f.message);
  s.mapping_rules.forEach((r, i) => {
    if (!known(r.metric)) report([...at, 'mapping_rules', i, 'metric'], `unknown metric "${r.metric}"`);
  });
  if (s.service_tokens !== undefined) {
    const all = serviceTokenDigests(s);
    if (new Set(all).size !== all.length) report([...at, 'service_tokens'], 'the same token is listed twice');
  }
  const features = new Set<string>();
  s.features.forEach((f, i) => {
    if (features.has(f.system_name))
      report([...at, 'features', i, 'system_name'], 'duplicate feature system_name');
    features.add(f.system_name);
  });
  const plans = new Set<string>();
  let defaultPlans = 0;
  s.plans.forEach((pl, pi) => {
    const p = [...at, 'plans', pi];
    if (plans.has(pl.system_name)) report([...p, 'system_name'], 'duplicate plan system_name');
    plans.add(pl.system_name);
    if (pl.default === true && ++defaultPlans > 1)
      report([...p, 'default'], 'only one plan of a service can be the default');
    pl.features.forEach((f, fi) => {
      if (!features.has(f)) report([...p, 'features', fi], `unknown feature "${f}"`);
    });
    duplicates(pl.features, (fi) => report([...p, 'features', fi], 'duplicate feature'));
    for (const [metric, byPeriod] of Object.entries(pl.limits)) {
      if (!known(metric)) report([...p, 'limits', metric], `unknown metric "${metric}"`);
      for (const period of Object.keys(byPeriod)) {
        if (!periods.has(period)) report([...p, 'limits', metric, period], 'unknown period');
      }
    }
    pl.pricing.rules.forEach((r, ri) => {
      const rp = [...p, 'pricing', 'rules', ri];
      if (!known(r.metric)) report([...rp, 'metric'], `unknown metric "${r.metric}"`);
      if (r.to !== undefined && r.to < r.from) report([...rp, 'to'], 'must not be less than from');
    });
  });
}

/** The cycle through `start`'s ancestors, if its parent chain comes back to itself. */
function cycleFrom(start: MetricDoc, metrics: Map<string, MetricDoc>): string[] | null {
  const chain = [start.system_name];
  let cur: MetricDoc | undefined = start;
  for (let steps = 0; steps <= metrics.size && cur?.parent !== undefined; steps++) {
    chain.push(cur.parent);
    if (cur.parent === start.system_name) return chain;
    cur = metrics.get(cur.parent);
  }
  return null;
}
