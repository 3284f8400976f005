/**
 * The declarative config through the admin API: `GET /config` exports the token's tenant, `PUT /config`
 * applies a document naming only that tenant (what `tollgate apply --server` sends). Same validation,
 * semantics and output as `tollgate apply` / `tollgate export`.
 */
import { randomUUID } from 'node:crypto';
import { applyConfig } from '../../config/apply.js';
import { exportConfig } from '../../config/export.js';
import { ConfigValidationError } from '../../config/faults.js';
import { getTenant } from '../../store/sql/repo/tenants.js';
import { requireTenant } from '../auth.js';
import { AdminError } from '../errors.js';
import { syncAuthView } from '../projection.js';
import type { AdminRoute } from '../route.js';

const changeItem = {
  type: 'object',
  required: ['action', 'kind', 'name'],
  properties: {
    action: { type: 'string', enum: ['create', 'update', 'delete'] },
    kind: { type: 'string' },
    name: { type: 'string' },
    fields: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const exportTenantConfig: AdminRoute = {
  method: 'GET',
  path: '/config',
  operationId: 'exportConfig',
  summary: "Export the token's tenant as a version-1 declarative config (JSON)",
  tags: ['config'],
  scope: 'management',
  write: false,
  response: { status: 200, schema: { type: 'object', required: ['version', 'tenants'] } },
  async handler(ctx, principal) {
    const tenant = await getTenant(ctx.db, requireTenant(principal));
    if (!tenant) throw new AdminError('not_found', 'tenant not found');
    return exportConfig(ctx.db, { tenants: [tenant.name] });
  },
};

export const applyTenantConfig: AdminRoute = {
  method: 'PUT',
  path: '/config',
  operationId: 'applyConfig',
  summary: "Apply a declarative config to the token's tenant (idempotent; ?dry_run=true only reports)",
  tags: ['config'],
  scope: 'management',
  write: true,
  query: {
    type: 'object',
    properties: { dry_run: { type: 'boolean', default: false } },
    additionalProperties: false,
  },
  // The document is validated by the config's own schema, which reports faults by path.
  body: { type: 'object' },
  example: { body: { version: 1, tenants: [] } },
  response: {
    status: 200,
    schema: {
      type: 'object',
      required: ['changes', 'dry_run'],
      properties: { changes: { type: 'array', items: changeItem }, dry_run: { type: 'boolean' } },
    },
  },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const tenant = await getTenant(ctx.db, tenantId);
    if (!tenant) throw new AdminError('not_found', 'tenant not found');
    const body = req.body as { tenants?: unknown };
    const named = Array.isArray(body.tenants) ? body.tenants : [];
    for (const [i, t] of named.entries()) {
      const name = (t as { name?: unknown } | null)?.name;
      if (name !== tenant.name) {
        throw new AdminError(
          'forbidden',
          `tenants[${i}] names "${String(name)}": this token may only apply "${tenant.name}"`,
        );
      }
    }
    const dryRun = (req.query as { dry_run: boolean }).dry_run;
    try {
      const result = await applyConfig(ctx.db, body, { dryRun, now: ctx.clock });
      if (!dryRun && result.changes.length > 0) {
        await ctx.db
          .insertInto('audit_log')
          .values({
            id: randomUUID(),
            tenant_id: tenantId,
            actor_type: principal.userId ? 'user' : 'token',
            actor_id: principal.userId ?? principal.tokenId,
            action: 'config.applied',
            object_type: 'tenant',
            object_id: tenantId,
            before: null,
            after: JSON.stringify({ changes: result.changes }),
            request_id: req.id,
            created_at: ctx.clock(),
          })
          .execute();
        if (ctx.authView) await syncAuthView(ctx.db, ctx.authView, [tenantId]);
      }
      return { changes: result.changes, dry_run: dryRun };
    } catch (err) {
      if (err instanceof ConfigValidationError) {
        throw new AdminError(
          'invalid_request',
          `the config was not applied (${err.faults.length} fault(s))`,
          {
            errors: err.faults.map((f) => ({ path: f.path, message: f.message })),
          },
        );
      }
      throw err;
    }
  },
};
