/**
 * Ports: the interfaces every storage adapter implements. Memory adapters are the reference; SQL, Redis
 * and Redis Streams adapters pass the same contract suites (test/contract/).
 */
import type { CounterPlan, CounterResult } from '../domain/counters.js';
import type { AppView, PlanView, ServiceView, TenantSnapshot, TenantView } from '../domain/model.js';

/**
 * The auth view: the projection of tenants, services, plans, limits, applications and keys that the
 * authorization core reads on every call. Written by the control plane (`syncTenant`) whenever SQL
 * changes. Secrets (provider keys, service tokens, user keys) are indexed by their SHA-256 digest,
 * so a lookup's timing says nothing about the secret.
 */
export interface AuthView {
  tenantByProviderKey(providerKey: string): Promise<TenantView | null>;
  /** The provider key of the tenant owning `serviceId`, if `(token, serviceId)` is a valid pair. */
  providerKeyForServiceToken(token: string, serviceId: string): Promise<string | null>;
  service(serviceId: string): Promise<ServiceView | null>;
  plan(serviceId: string, planId: string): Promise<PlanView | null>;
  application(serviceId: string, appId: string): Promise<AppView | null>;
  appIdByUserKey(serviceId: string, userKey: string): Promise<string | null>;
  /** Replaces everything held for the snapshot's tenant (entries no longer present are removed). */
  syncTenant(snapshot: TenantSnapshot): Promise<void>;
  /** Removes a tenant and everything under it. */
  deleteTenant(tenantId: string): Promise<void>;
  /** Change feed: `listener` runs after any write, in this process or (Redis) any other. */
  onChange(listener: (tenantId: string) => void): () => void;
  close(): Promise<void>;
  /**
   * Optional synchronous face for the hot path: the same lookups answered from memory, without a
   * promise. Each answers `undefined` when it cannot without I/O; the caller then uses the async method.
   */
  readonly peek?: AuthViewPeek;
}

/** Synchronous lookups of an auth view (see `AuthView.peek`): same answers, `undefined` = ask async. */
export interface AuthViewPeek {
  tenantByProviderKey(providerKey: string): TenantView | null | undefined;
  providerKeyForServiceToken(token: string, serviceId: string): string | null | undefined;
  service(serviceId: string): ServiceView | null | undefined;
  plan(serviceId: string, planId: string): PlanView | null | undefined;
  application(serviceId: string, appId: string): AppView | null | undefined;
  appIdByUserKey(serviceId: string, userKey: string): string | null | undefined;
}

/** Usage counters per application, metric and period window. */
export interface CounterStore {
  /** Executes a plan atomically (see CounterPlan). */
  execute(plan: CounterPlan): Promise<CounterResult>;
  /** Reads counters (0 when absent). */
  read(keys: readonly string[]): Promise<number[]>;
  /** Optional: `execute` without a promise, for stores that hold counters in this process. */
  executeSync?(plan: CounterPlan): CounterResult;
  /** Optional: `read` without a promise, for stores that hold counters in this process. */
  readSync?(keys: readonly string[]): number[];
  /** Persists what is buffered (memory store: to SQL) and releases resources. */
  close(): Promise<void>;
}

/** One entry of the usage log. `id` is unique per entry and used for downstream de-duplication. */
export interface LogRecord {
  readonly id: string;
  readonly payload: unknown;
}

/** A record handed to a consumer; `seq` is the log's own position, used to ack. */
export interface Delivery {
  readonly seq: string;
  readonly record: LogRecord;
}

export const USAGE_STREAMS = ['reports', 'events'] as const;
/** `reports`: report batches still to be counted. `events`: usage already counted (for analytics). */
export type UsageStream = (typeof USAGE_STREAMS)[number];

/**
 * The usage log: an append-only, at-least-once log with consumer groups. Embedded over SQL, or Redis
 * Streams. A delivery not acked is delivered again (to the same group) after `reclaimAfterMs` or a restart.
 */
export interface UsageLog {
  append(stream: UsageStream, records: readonly LogRecord[]): Promise<void>;
  read(
    stream: UsageStream,
    group: string,
    consumer: string,
    max: number,
    blockMs: number,
  ): Promise<Delivery[]>;
  ack(stream: UsageStream, group: string, seqs: readonly string[]): Promise<void>;
  /** Drops entries older than `olderThanMs` (epoch ms) that every group has acked. */
  trim(stream: UsageStream, olderThanMs: number): Promise<number>;
  close(): Promise<void>;
}

/** An integration error of a service: what a Service Management API caller got wrong (3scale keeps 1000). */
export interface IntegrationError {
  readonly code: string;
  readonly message: string;
  readonly timestamp: number;
}

/** Per-service integration errors, newest first, capped per service. */
export interface ErrorLog {
  add(serviceId: string, errors: readonly IntegrationError[]): Promise<void>;
  list(
    serviceId: string,
    offset: number,
    limit: number,
  ): Promise<{ errors: IntegrationError[]; count: number }>;
  clear(serviceId: string): Promise<void>;
}
