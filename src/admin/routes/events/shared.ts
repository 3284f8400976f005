/** What the webhook routes share: params, representations, and loading a tenant's own rows (else 404). */
import type { Kysely, Selectable } from 'kysely';
import { parseEvents } from '../../../notify/outbox.js';
import type { DB } from '../../../store/sql/schema.js';
import type { WebhookDeliveriesTable, WebhookEndpointsTable } from '../../../store/sql/schema-events.js';
import { AdminError } from '../../errors.js';
import type { JsonSchema } from '../../route.js';

export type EndpointRow = Selectable<WebhookEndpointsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

const id = { type: 'string', minLength: 1, maxLength: 64 } as const;

export const webhookParams: JsonSchema = {
  type: 'object',
  required: ['id'],
  properties: { id },
  additionalProperties: false,
};

export const deliveryParams: JsonSchema = {
  type: 'object',
  required: ['id', 'delivery_id'],
  properties: { id, delivery_id: id },
  additionalProperties: false,
};

const iso = (ms: number | string | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const webhookSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'url', 'events', 'active', 'description', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string' } },
    active: { type: 'boolean' },
    description: { type: ['string', 'null'] },
    created_at: dateTime,
    updated_at: dateTime,
  },
};

/** The create / rotate answer: the representation plus the signing secret, shown this once. */
export const webhookWithSecretSchema: JsonSchema = {
  ...webhookSchema,
  required: [...(webhookSchema.required as string[]), 'secret'],
  properties: { ...(webhookSchema.properties as object), secret: { type: 'string' } },
};

export interface WebhookRepr {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  description: string | null;
  created_at: string;
  updated_at: string;
}

/** An endpoint as the API shows it, and as the audit log and events record it: never the secret. */
export function webhookRepr(r: EndpointRow): WebhookRepr {
  return {
    id: r.id,
    url: r.url,
    events: parseEvents(r.events),
    active: r.active === 1,
    description: r.description,
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
  };
}

export const deliverySchema: JsonSchema = {
  type: 'object',
  required: ['id', 'webhook_id', 'event_id', 'event_type', 'status', 'attempt_count', 'created_at'],
  properties: {
    id: { type: 'string' },
    webhook_id: { type: 'string' },
    event_id: { type: 'string' },
    event_type: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    attempt_count: { type: 'integer' },
    next_attempt_at: nullableDateTime,
    last_status_code: { type: ['integer', 'null'] },
    last_error: { type: ['string', 'null'] },
    created_at: dateTime,
    updated_at: dateTime,
    delivered_at: nullableDateTime,
  },
};

export function deliveryRepr(d: DeliveryRow) {
  return {
    id: d.id,
    webhook_id: d.endpoint_id,
    event_id: d.event_id,
    event_type: d.event_type,
    status: d.status as 'pending' | 'delivered' | 'failed',
    attempt_count: d.attempts,
    next_attempt_at: iso(d.next_attempt_at),
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    created_at: iso(d.created_at)!,
    updated_at: iso(d.updated_at)!,
    delivered_at: iso(d.delivered_at),
  };
}

/** The tenant's endpoint, or 404 (another tenant's id answers exactly like a missing one). */
export async function loadEndpoint(db: Kysely<DB>, tenantId: string, id: string): Promise<EndpointRow> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AdminError('not_found', `webhook ${id} not found`);
  return row;
}

/** A delivery of the tenant's endpoint, or 404. */
export async function loadDelivery(
  db: Kysely<DB>,
  tenantId: string,
  endpointId: string,
  deliveryId: string,
): Promise<DeliveryRow> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('endpoint_id', '=', endpointId)
    .where('id', '=', deliveryId)
    .executeTakeFirst();
  if (!row) throw new AdminError('not_found', `delivery ${deliveryId} not found`);
  return row;
}

/** Refuses URLs that are not absolute http(s) (ajv's `uri` format would let `javascript:` through). */
export function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AdminError('invalid_request', 'url must be an absolute http or https URL', {
      errors: [{ path: '/url', message: 'not a URL' }],
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AdminError('invalid_request', 'url must use http or https', {
      errors: [{ path: '/url', message: 'scheme must be http or https' }],
    });
  }
}
