/** Table types of webhook endpoints, deliveries and delivery attempts (migration 006). */
import type { AutoId, EpochMs } from './schema-config.js';

/** A tenant's webhook endpoint. `events` is a JSON array of event types (`*` = all). */
export interface WebhookEndpointsTable {
  id: string;
  tenant_id: string;
  url: string;
  events: string;
  active: number;
  description: string | null;
  /** The signing secret, readable: HMAC needs it (not encrypted at rest yet). */
  secret: string;
  created_at: EpochMs;
  updated_at: EpochMs;
}

/** One event to send to one endpoint: the outbox row, written in the change's transaction. */
export interface WebhookDeliveriesTable {
  seq: AutoId;
  id: string;
  tenant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  /** The exact JSON body sent (and signed). */
  payload: string;
  /** `pending` | `delivered` | `failed`. */
  status: string;
  attempts: number;
  /** When a pending delivery is due; null once delivered or failed. */
  next_attempt_at: EpochMs | null;
  /** Lease of the dispatcher sending it now: other dispatchers skip it until then. */
  attempting_until: EpochMs | null;
  lease_id: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: EpochMs;
  updated_at: EpochMs;
  delivered_at: EpochMs | null;
}

/** One HTTP attempt of a delivery and what came back. */
export interface WebhookDeliveryAttemptsTable {
  seq: AutoId;
  delivery_id: string;
  attempt: number;
  started_at: EpochMs;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  /** The first 2 KiB of the response body. */
  response_body: string | null;
}

export interface EventTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_delivery_attempts: WebhookDeliveryAttemptsTable;
}
