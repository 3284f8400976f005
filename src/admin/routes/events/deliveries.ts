/** Deliveries of a webhook endpoint: list, get with its attempts, redeliver, and send a test event. */
import { randomUUID } from 'node:crypto';
import type { WebhookEvent } from '../../../notify/event.js';
import { enqueueDeliveries } from '../../../notify/outbox.js';
import { requireTenant } from '../../auth.js';
import { AdminError } from '../../errors.js';
import { decodeCursor, PAGE_QUERY, page, pageSchema } from '../../http-conventions.js';
import type { AdminRoute } from '../../route.js';
import {
  deliveryParams,
  deliveryRepr,
  deliverySchema,
  loadDelivery,
  loadEndpoint,
  webhookParams,
  webhookRepr,
} from './shared.js';

const TAGS = ['webhooks'];

const attemptSchema = {
  type: 'object',
  required: ['attempt', 'started_at', 'duration_ms', 'status_code', 'error', 'response_body'],
  properties: {
    attempt: { type: 'integer' },
    started_at: { type: 'string', format: 'date-time' },
    duration_ms: { type: 'integer' },
    status_code: { type: ['integer', 'null'] },
    error: { type: ['string', 'null'] },
    response_body: { type: ['string', 'null'] },
  },
} as const;

export const listDeliveries: AdminRoute = {
  method: 'GET',
  path: '/webhooks/:id/deliveries',
  operationId: 'listWebhookDeliveries',
  summary: "List an endpoint's deliveries, newest first (filter by status, event type)",
  tags: TAGS,
  scope: 'management',
  write: false,
  params: webhookParams,
  query: {
    type: 'object',
    properties: {
      ...PAGE_QUERY,
      status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
      event_type: { type: 'string', maxLength: 100 },
    },
    additionalProperties: false,
  },
  response: { status: 200, schema: pageSchema(deliverySchema) },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const { id } = req.params as { id: string };
    const q = req.query as { limit: number; cursor?: string; status?: string; event_type?: string };
    await loadEndpoint(ctx.db, tenantId, id);
    const before = decodeCursor(q.cursor);
    if (before !== null && !/^\d+$/.test(before))
      throw new AdminError('invalid_request', 'cursor is not valid');
    let sel = ctx.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('endpoint_id', '=', id)
      .orderBy('seq', 'desc')
      .limit(q.limit + 1);
    if (before !== null) sel = sel.where('seq', '<', Number(before));
    if (q.status) sel = sel.where('status', '=', q.status);
    if (q.event_type) sel = sel.where('event_type', '=', q.event_type);
    const p = page(await sel.execute(), q.limit, (r) => String(r.seq));
    return { items: p.items.map(deliveryRepr), next_cursor: p.next_cursor };
  },
};

export const getDelivery: AdminRoute = {
  method: 'GET',
  path: '/webhooks/:id/deliveries/:delivery_id',
  operationId: 'getWebhookDelivery',
  summary: 'Get a delivery with its event and every attempt (status code, duration, error, response)',
  tags: TAGS,
  scope: 'management',
  write: false,
  params: deliveryParams,
  response: {
    status: 200,
    schema: {
      ...deliverySchema,
      required: [...(deliverySchema.required as string[]), 'event', 'attempts'],
      properties: {
        ...(deliverySchema.properties as object),
        event: { type: 'object' },
        attempts: { type: 'array', items: attemptSchema },
      },
    },
  },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const { id, delivery_id } = req.params as { id: string; delivery_id: string };
    const d = await loadDelivery(ctx.db, tenantId, id, delivery_id);
    const attempts = await ctx.db
      .selectFrom('webhook_delivery_attempts')
      .selectAll()
      .where('delivery_id', '=', d.id)
      .orderBy('seq')
      .execute();
    return {
      ...deliveryRepr(d),
      event: JSON.parse(d.payload) as unknown,
      attempts: attempts.map((a) => ({
        attempt: a.attempt,
        started_at: new Date(Number(a.started_at)).toISOString(),
        duration_ms: a.duration_ms,
        status_code: a.status_code,
        error: a.error,
        response_body: a.response_body,
      })),
    };
  },
};

export const redeliver: AdminRoute = {
  method: 'POST',
  path: '/webhooks/:id/deliveries/:delivery_id/redeliver',
  operationId: 'redeliverWebhookDelivery',
  summary: 'Send a delivery again now (one more attempt, whatever its status)',
  tags: TAGS,
  scope: 'management',
  write: true,
  params: deliveryParams,
  response: { status: 202, schema: deliverySchema },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const { id, delivery_id } = req.params as { id: string; delivery_id: string };
    await loadDelivery(ctx.db, tenantId, id, delivery_id);
    const now = ctx.clock();
    // Not while a dispatcher holds it: that attempt's outcome would overwrite this request.
    const r = await ctx.db
      .updateTable('webhook_deliveries')
      .set({
        status: 'pending',
        next_attempt_at: now,
        attempting_until: null,
        lease_id: null,
        updated_at: now,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', delivery_id)
      .where((eb) => eb.or([eb('attempting_until', 'is', null), eb('attempting_until', '<', now)]))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      throw new AdminError('conflict', 'the delivery is being attempted right now; retry in a moment');
    }
    return deliveryRepr(await loadDelivery(ctx.db, tenantId, id, delivery_id));
  },
};

export const testWebhook: AdminRoute = {
  method: 'POST',
  path: '/webhooks/:id/test',
  operationId: 'testWebhook',
  summary: 'Send a `webhook.test` event to this endpoint only',
  tags: TAGS,
  scope: 'management',
  write: true,
  params: webhookParams,
  response: { status: 202, schema: deliverySchema },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const { id } = req.params as { id: string };
    const ep = await loadEndpoint(ctx.db, tenantId, id);
    // An inactive endpoint is paused: the test would wait until it is activated again.
    if (ep.active !== 1) throw new AdminError('conflict', 'the webhook is inactive; activate it first');
    const now = ctx.clock();
    const event: WebhookEvent = {
      id: randomUUID(),
      type: 'webhook.test',
      created_at: new Date(now).toISOString(),
      tenant_id: tenantId,
      data: { object_type: 'webhook', object_id: id, object: webhookRepr(ep) },
    };
    const [deliveryId] = await enqueueDeliveries(ctx.db, event, [id], now);
    return deliveryRepr(await loadDelivery(ctx.db, tenantId, id, deliveryId!));
  },
};

export const DELIVERY_ROUTES: readonly AdminRoute[] = [listDeliveries, getDelivery, redeliver, testWebhook];
