/** Integration errors of a service: what Service Management API callers got wrong, newest first. */
import { getService } from '../../store/sql/repo/services.js';
import { requireTenant } from '../auth.js';
import { AdminError } from '../errors.js';
import type { AdminRoute } from '../route.js';

const params = {
  type: 'object',
  required: ['service_id'],
  properties: { service_id: { type: 'string', minLength: 1, maxLength: 64 } },
  additionalProperties: false,
} as const;

const errorItem = {
  type: 'object',
  required: ['code', 'message', 'timestamp'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time' },
  },
} as const;

async function ownService(
  ctx: Parameters<AdminRoute['handler']>[0],
  tenantId: string,
  serviceId: string,
): Promise<void> {
  // Another tenant's service answers 404, exactly like a missing one.
  const svc = await getService(ctx.db, tenantId, serviceId);
  if (!svc) throw new AdminError('not_found', `service ${serviceId} not found`);
}

export const listServiceErrors: AdminRoute = {
  method: 'GET',
  path: '/services/:service_id/errors',
  operationId: 'listServiceErrors',
  summary: "List a service's integration errors, newest first",
  tags: ['services'],
  scope: 'management',
  write: false,
  params,
  query: {
    type: 'object',
    properties: {
      page: { type: 'integer', minimum: 1, default: 1 },
      per_page: { type: 'integer', minimum: 1, maximum: 100, default: 100 },
    },
    additionalProperties: false,
  },
  response: {
    status: 200,
    schema: {
      type: 'object',
      required: ['errors', 'count'],
      properties: { errors: { type: 'array', items: errorItem }, count: { type: 'integer' } },
    },
  },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const { service_id } = req.params as { service_id: string };
    const { page, per_page } = req.query as { page: number; per_page: number };
    await ownService(ctx, tenantId, service_id);
    const { errors, count } = await ctx.errorLog.list(service_id, (page - 1) * per_page, per_page);
    return {
      errors: errors.map((e) => ({
        code: e.code,
        message: e.message,
        timestamp: new Date(e.timestamp).toISOString(),
      })),
      count,
    };
  },
};

export const clearServiceErrors: AdminRoute = {
  method: 'DELETE',
  path: '/services/:service_id/errors',
  operationId: 'clearServiceErrors',
  summary: "Delete a service's integration errors",
  tags: ['services'],
  scope: 'management',
  write: true,
  params,
  response: { status: 204 },
  async handler(ctx, principal, req, reply) {
    const tenantId = requireTenant(principal);
    const { service_id } = req.params as { service_id: string };
    await ownService(ctx, tenantId, service_id);
    await ctx.errorLog.clear(service_id);
    reply.code(204);
    return undefined;
  },
};
