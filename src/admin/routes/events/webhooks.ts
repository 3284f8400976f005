/** Webhook endpoints of a tenant: list, create (secret shown once), get, update, delete, rotate secret. */
import { randomUUID } from 'node:crypto';
import { EVENT_PATTERN } from '../../../notify/event.js';
import { newWebhookSecret } from '../../../notify/signing.js';
import { requireTenant } from '../../auth.js';
import { commitChange } from '../../change.js';
import {
  checkIfMatch,
  decodeCursor,
  PAGE_QUERY,
  page,
  pageSchema,
  withEtag,
} from '../../http-conventions.js';
import type { AdminRoute } from '../../route.js';
import {
  checkUrl,
  loadEndpoint,
  webhookParams,
  webhookRepr,
  webhookSchema,
  webhookWithSecretSchema,
} from './shared.js';

const TAGS = ['webhooks'];

const fields = {
  url: { type: 'string', minLength: 1, maxLength: 2048 },
  events: {
    type: 'array',
    minItems: 1,
    maxItems: 100,
    uniqueItems: true,
    items: { type: 'string', maxLength: 100, pattern: EVENT_PATTERN },
  },
  active: { type: 'boolean' },
  description: { type: ['string', 'null'], maxLength: 500 },
} as const;

interface WebhookBody {
  url?: string;
  events?: string[];
  active?: boolean;
  description?: string | null;
  secret?: string;
}

/** Cursor key of the creation order: zero-padded epoch ms, then id (unique). */
const keyOf = (createdAt: number | string, id: string) =>
  `${String(Number(createdAt)).padStart(15, '0')}|${id}`;

export const listWebhooks: AdminRoute = {
  method: 'GET',
  path: '/webhooks',
  operationId: 'listWebhooks',
  summary: "List the tenant's webhook endpoints, oldest first",
  tags: TAGS,
  scope: 'management',
  write: false,
  query: { type: 'object', properties: PAGE_QUERY, additionalProperties: false },
  response: { status: 200, schema: pageSchema(webhookSchema) },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const q = req.query as { limit: number; cursor?: string };
    const after = decodeCursor(q.cursor);
    let sel = ctx.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at')
      .orderBy('id')
      .limit(q.limit + 1);
    if (after !== null) {
      const [ms, id] = after.split('|', 2);
      const at = Number(ms);
      if (!Number.isFinite(at) || !id) return { items: [], next_cursor: null };
      sel = sel.where((eb) =>
        eb.or([eb('created_at', '>', at), eb.and([eb('created_at', '=', at), eb('id', '>', id)])]),
      );
    }
    const rows = await sel.execute();
    const p = page(rows, q.limit, (r) => keyOf(r.created_at, r.id));
    return { items: p.items.map(webhookRepr), next_cursor: p.next_cursor };
  },
};

export const createWebhook: AdminRoute = {
  method: 'POST',
  path: '/webhooks',
  operationId: 'createWebhook',
  summary: 'Create a webhook endpoint; the answer shows its signing secret, once',
  tags: TAGS,
  scope: 'management',
  write: true,
  body: {
    type: 'object',
    required: ['url', 'events'],
    properties: { ...fields, secret: { type: 'string', minLength: 16, maxLength: 256 } },
    additionalProperties: false,
  },
  revealsSecret: true,
  response: { status: 201, schema: webhookWithSecretSchema },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const b = req.body as WebhookBody & { url: string; events: string[] };
    checkUrl(b.url);
    const secret = b.secret ?? newWebhookSecret();
    const now = ctx.clock();
    const row = {
      id: randomUUID(),
      tenant_id: tenantId,
      url: b.url,
      events: JSON.stringify(b.events),
      active: b.active === false ? 0 : 1,
      description: b.description ?? null,
      secret,
      created_at: now,
      updated_at: now,
    };
    const repr = webhookRepr(row);
    await commitChange(ctx, req, principal, tenantId, async (trx) => {
      await trx.insertInto('webhook_endpoints').values(row).execute();
      return {
        changes: [
          { action: 'webhook.created', objectType: 'webhook', objectId: row.id, before: null, after: repr },
        ],
        result: undefined,
      };
    });
    return { ...repr, secret };
  },
};

export const getWebhook: AdminRoute = {
  method: 'GET',
  path: '/webhooks/:id',
  operationId: 'getWebhook',
  summary: 'Get a webhook endpoint (without its secret)',
  tags: TAGS,
  scope: 'management',
  write: false,
  params: webhookParams,
  response: { status: 200, schema: webhookSchema },
  async handler(ctx, principal, req, reply) {
    const tenantId = requireTenant(principal);
    const { id } = req.params as { id: string };
    return withEtag(reply, webhookRepr(await loadEndpoint(ctx.db, tenantId, id)));
  },
};

export const updateWebhook: AdminRoute = {
  method: 'PATCH',
  path: '/webhooks/:id',
  operationId: 'updateWebhook',
  summary: "Change a webhook endpoint's url, events, active flag or description (If-Match honoured)",
  tags: TAGS,
  scope: 'management',
  write: true,
  params: webhookParams,
  body: { type: 'object', properties: fields, additionalProperties: false, minProperties: 1 },
  example: { body: { active: false } },
  response: { status: 200, schema: webhookSchema },
  async handler(ctx, principal, req, reply) {
    const tenantId = requireTenant(principal);
    const { id } = req.params as { id: string };
    const b = req.body as WebhookBody;
    if (b.url !== undefined) checkUrl(b.url);
    const after = await commitChange(ctx, req, principal, tenantId, async (trx) => {
      const cur = await loadEndpoint(trx, tenantId, id);
      const before = webhookRepr(cur);
      checkIfMatch(req, before);
      const next = {
        ...cur,
        ...(b.url !== undefined ? { url: b.url } : {}),
        ...(b.events !== undefined ? { events: JSON.stringify(b.events) } : {}),
        ...(b.active !== undefined ? { active: b.active ? 1 : 0 } : {}),
        ...(b.description !== undefined ? { description: b.description } : {}),
        updated_at: ctx.clock(),
      };
      await trx
        .updateTable('webhook_endpoints')
        .set({
          url: next.url,
          events: next.events,
          active: next.active,
          description: next.description,
          updated_at: next.updated_at,
        })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
      const repr = webhookRepr(next);
      return {
        changes: [{ action: 'webhook.updated', objectType: 'webhook', objectId: id, before, after: repr }],
        result: repr,
      };
    });
    return withEtag(reply, after);
  },
};

export const deleteWebhook: AdminRoute = {
  method: 'DELETE',
  path: '/webhooks/:id',
  operationId: 'deleteWebhook',
  summary: 'Delete a webhook endpoint and its delivery history (If-Match honoured)',
  tags: TAGS,
  scope: 'management',
  write: true,
  params: webhookParams,
  response: { status: 204 },
  async handler(ctx, principal, req, reply) {
    const tenantId = requireTenant(principal);
    const { id } = req.params as { id: string };
    await commitChange(ctx, req, principal, tenantId, async (trx) => {
      const before = webhookRepr(await loadEndpoint(trx, tenantId, id));
      checkIfMatch(req, before);
      await trx
        .deleteFrom('webhook_endpoints')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
      return {
        changes: [{ action: 'webhook.deleted', objectType: 'webhook', objectId: id, before, after: null }],
        result: undefined,
      };
    });
    reply.code(204);
    return undefined;
  },
};

export const rotateWebhookSecret: AdminRoute = {
  method: 'POST',
  path: '/webhooks/:id/rotate_secret',
  operationId: 'rotateWebhookSecret',
  summary: 'Replace the signing secret; the answer shows the new one, once (the old one stops at once)',
  tags: TAGS,
  scope: 'management',
  write: true,
  params: webhookParams,
  revealsSecret: true,
  response: { status: 200, schema: webhookWithSecretSchema },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const { id } = req.params as { id: string };
    const secret = newWebhookSecret();
    return commitChange(ctx, req, principal, tenantId, async (trx) => {
      const cur = await loadEndpoint(trx, tenantId, id);
      const now = ctx.clock();
      await trx
        .updateTable('webhook_endpoints')
        .set({ secret, updated_at: now })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
      const before = webhookRepr(cur);
      const after = webhookRepr({ ...cur, updated_at: now });
      return {
        changes: [{ action: 'webhook.secret_rotated', objectType: 'webhook', objectId: id, before, after }],
        result: { ...after, secret },
      };
    });
  },
};

export const WEBHOOK_ROUTES: readonly AdminRoute[] = [
  listWebhooks,
  createWebhook,
  getWebhook,
  updateWebhook,
  deleteWebhook,
  rotateWebhookSecret,
];
