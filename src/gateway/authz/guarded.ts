/**
 * Store ports seen through the StoreGuard: every call that leaves the process is bounded by the
 * service's store timeout and reported to the breaker; while the breaker is open it fails at once.
 * Synchronous faces (an auth view's `peek`, in-process counters) pass through untouched: they do no I/O.
 */
import type { CounterPlan, CounterResult } from '../../domain/counters.js';
import type { AppView, PlanView, ServiceView, TenantSnapshot, TenantView } from '../../domain/model.js';
import type { AuthView, AuthViewPeek, CounterStore } from '../../store/ports.js';
import type { StoreGuard } from './guard.js';

/** `inner` guarded; in-process counters (with `executeSync`) are returned as they are. */
export function guardCounters(inner: CounterStore, guard: StoreGuard, timeoutMs: number): CounterStore {
  if (inner.executeSync !== undefined) return inner;
  return {
    execute(plan: CounterPlan): Promise<CounterResult> {
      if (!guard.enter()) return guard.refuse();
      return guard.watch(inner.execute(plan), timeoutMs);
    },
    read(keys: readonly string[]): Promise<number[]> {
      if (!guard.enter()) return guard.refuse();
      return guard.watch(inner.read(keys), timeoutMs);
    },
    close: () => inner.close(),
  };
}

/** The auth view's lookups guarded (its `peek` answers from memory and is passed through). */
export class GuardedAuthView implements AuthView {
  readonly peek: AuthViewPeek | undefined;

  constructor(
    private readonly inner: AuthView,
    private readonly guard: StoreGuard,
    private readonly timeoutMs: number,
  ) {
    this.peek = inner.peek;
  }

  private g<T>(p: () => Promise<T>): Promise<T> {
    return this.guard.run(p, this.timeoutMs);
  }

  tenantByProviderKey(providerKey: string): Promise<TenantView | null> {
    return this.g(() => this.inner.tenantByProviderKey(providerKey));
  }
  providerKeyForServiceToken(token: string, serviceId: string): Promise<string | null> {
    return this.g(() => this.inner.providerKeyForServiceToken(token, serviceId));
  }
  service(serviceId: string): Promise<ServiceView | null> {
    return this.g(() => this.inner.service(serviceId));
  }
  plan(serviceId: string, planId: string): Promise<PlanView | null> {
    return this.g(() => this.inner.plan(serviceId, planId));
  }
  application(serviceId: string, appId: string): Promise<AppView | null> {
    return this.g(() => this.inner.application(serviceId, appId));
  }
  appIdByUserKey(serviceId: string, userKey: string): Promise<string | null> {
    return this.g(() => this.inner.appIdByUserKey(serviceId, userKey));
  }
  syncTenant(snapshot: TenantSnapshot): Promise<void> {
    return this.inner.syncTenant(snapshot);
  }
  deleteTenant(tenantId: string): Promise<void> {
    return this.inner.deleteTenant(tenantId);
  }
  onChange(listener: (tenantId: string) => void): () => void {
    return this.inner.onChange(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
