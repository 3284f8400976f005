/** In-process auth view: the embedded default and the reference the Redis adapter is tested against. */
import type { AppView, PlanView, ServiceView, TenantSnapshot, TenantView } from '../../domain/model.js';
import { lookupDigest, sha256 } from '../digest.js';
import type { AuthView, AuthViewPeek } from '../ports.js';

interface TenantEntries {
  providerKeyDigest: string;
  serviceIds: string[];
  tokenDigests: string[];
}

export class MemoryAuthView implements AuthView {
  private readonly tenantsByPk = new Map<string, TenantView>();
  private readonly tokens = new Map<string, string>();
  private readonly services = new Map<string, ServiceView>();
  private readonly plans = new Map<string, PlanView>();
  private readonly apps = new Map<string, AppView>();
  private readonly userKeys = new Map<string, string>();
  private readonly byTenant = new Map<string, TenantEntries>();
  private readonly listeners = new Set<(tenantId: string) => void>();

  /** Every lookup answers synchronously: the async methods below are these, wrapped. */
  readonly peek: AuthViewPeek = {
    tenantByProviderKey: (providerKey) => this.tenantsByPk.get(lookupDigest(providerKey)) ?? null,
    providerKeyForServiceToken: (token, serviceId) =>
      this.tokens.get(`${serviceId}\n${lookupDigest(token)}`) ?? null,
    service: (serviceId) => this.services.get(serviceId) ?? null,
    plan: (serviceId, planId) => this.plans.get(`${serviceId}\n${planId}`) ?? null,
    application: (serviceId, appId) => this.apps.get(`${serviceId}\n${appId}`) ?? null,
    appIdByUserKey: (serviceId, userKey) =>
      this.userKeys.get(`${serviceId}\n${lookupDigest(userKey)}`) ?? null,
  };

  async tenantByProviderKey(providerKey: string): Promise<TenantView | null> {
    return this.peek.tenantByProviderKey(providerKey) ?? null;
  }

  async providerKeyForServiceToken(token: string, serviceId: string): Promise<string | null> {
    return this.peek.providerKeyForServiceToken(token, serviceId) ?? null;
  }

  async service(serviceId: string): Promise<ServiceView | null> {
    return this.peek.service(serviceId) ?? null;
  }

  async plan(serviceId: string, planId: string): Promise<PlanView | null> {
    return this.peek.plan(serviceId, planId) ?? null;
  }

  async application(serviceId: string, appId: string): Promise<AppView | null> {
    return this.peek.application(serviceId, appId) ?? null;
  }

  async appIdByUserKey(serviceId: string, userKey: string): Promise<string | null> {
    return this.peek.appIdByUserKey(serviceId, userKey) ?? null;
  }

  async syncTenant(s: TenantSnapshot): Promise<void> {
    this.remove(s.tenant.id);
    const pk = sha256(s.tenant.providerKey);
    this.tenantsByPk.set(pk, s.tenant);
    const tokenDigests: string[] = [];
    for (const t of s.serviceTokens) {
      const d = `${t.serviceId}\n${t.tokenDigest}`;
      tokenDigests.push(d);
      this.tokens.set(d, s.tenant.providerKey);
    }
    for (const svc of s.services) this.services.set(svc.id, svc);
    for (const p of s.plans) this.plans.set(`${p.serviceId}\n${p.id}`, p);
    for (const a of s.apps) {
      this.apps.set(`${a.serviceId}\n${a.id}`, a);
      if (a.userKey !== null) this.userKeys.set(`${a.serviceId}\n${sha256(a.userKey)}`, a.id);
    }
    this.byTenant.set(s.tenant.id, {
      providerKeyDigest: pk,
      serviceIds: s.services.map((x) => x.id),
      tokenDigests,
    });
    this.emit(s.tenant.id);
  }

  async deleteTenant(tenantId: string): Promise<void> {
    this.remove(tenantId);
    this.emit(tenantId);
  }

  onChange(listener: (tenantId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private remove(tenantId: string): void {
    const e = this.byTenant.get(tenantId);
    if (!e) return;
    this.tenantsByPk.delete(e.providerKeyDigest);
    for (const d of e.tokenDigests) this.tokens.delete(d);
    const svcs = new Set(e.serviceIds);
    for (const id of svcs) this.services.delete(id);
    for (const map of [this.plans, this.apps, this.userKeys]) {
      for (const k of map.keys()) {
        if (svcs.has(k.slice(0, k.indexOf('\n')))) map.delete(k);
      }
    }
    this.byTenant.delete(tenantId);
  }

  private emit(tenantId: string): void {
    for (const l of this.listeners) l(tenantId);
  }
}
