/**
 * The webhook outbox: a change hook that, inside the change's own transaction, writes one pending
 * delivery per subscribed endpoint. A delivery is durable exactly when the change commits, and a
 * rolled-back change announces nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ChangeHook } from '../admin/route.js';
import type { DB } from '../store/sql/schema.js';
import { eventOfChange, subscribes, type WebhookEvent } from './event.js';

/** Parses an endpoint's stored `events` column (a JSON array). */
export function parseEvents(text: string): string[] {
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? v.filter((e): e is string => typeof e === 'string') : [];
}

/** Inserts one pending delivery of `event` per endpoint, due at once; returns the delivery ids. */
export async function enqueueDeliveries(
  db: Kysely<DB>,
  event: WebhookEvent,
  endpointIds: readonly string[],
  at: number,
): Promise<string[]> {
  if (endpointIds.length === 0) return [];
  const payload = JSON.stringify(event);
  const rows = endpointIds.map((endpointId) => ({
    id: randomUUID(),
    tenant_id: event.tenant_id,
    endpoint_id: endpointId,
    event_id: event.id,
    event_type: event.type,
    payload,
    status: 'pending',
    attempts: 0,
    next_attempt_at: at,
    created_at: at,
    updated_at: at,
  }));
  await db.insertInto('webhook_deliveries').values(rows).execute();
  return rows.map((r) => r.id);
}

/** The change hook the composition root registers in `AdminContext.changeHooks`. */
export const webhookOutboxHook: ChangeHook = async (trx, tenantId, change, at) => {
  // Platform-wide changes (tenantId null) have no tenant endpoint to tell.
  if (tenantId === null) return;
  const endpoints = await trx
    .selectFrom('webhook_endpoints')
    .select(['id', 'events'])
    .where('tenant_id', '=', tenantId)
    .where('active', '=', 1)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const targets = endpoints.filter((e) => subscribes(parseEvents(e.events), change.action)).map((e) => e.id);
  if (targets.length === 0) return;
  await enqueueDeliveries(trx, eventOfChange(tenantId, change, at), targets, at);
};
