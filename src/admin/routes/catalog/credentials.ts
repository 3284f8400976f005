/**
 * Admin API: a service's service tokens (stored as SHA-256 digests, the value shown once) and the
 * rotation of the tenant's provider key. Both are live on the backend when the call returns.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../../store/digest.js';
import { num } from '../../../store/sql/repo/records.js';
import { requireTenant } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { pageSchema } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import { listQuery, ownService, pageOf, params, pathParams } from './common.js';

/** A token's public id: the first 16 hex digits of its digest (config-applied tokens have one too). */
const tokenId = (hash: string) => hash.slice(0, 16);

const TOKEN_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['id', 'service_id', 'created_at'],
  properties: {
    id: { type: 'string' },
    service_id: { type: 'string' },
    created_at: { type: ['string', 'null'], format: 'date-time' },
    value: { type: 'string', description: 'only in the create answer' },
  },
};

type Row = { service_id: string; token_hash: string; created_at: number | string | null };
const repr = (r: Row) => ({
  id: tokenId(r.token_hash),
  service_id: r.service_id,
  created_at: r.created_at === null ? null : new Date(num(r.created_at)).toISOString(),
});
type P = { service_id: string; token_id: string };

export const CREDENTIAL_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: '/services/:service_id/service_tokens',
    operationId: 'listServiceTokens',
    summary: "List a service's service tokens (ids and creation times, never the values)",
    tags: ['service tokens'],
    scope: 'management',
    write: false,
    params: pathParams('service_id'),
    query: listQuery(),
    response: { status: 200, schema: pageSchema(TOKEN_SCHEMA) },
    async handler(ctx, principal, req) {
      const { service_id } = params<P>(req);
      await ownService(ctx.db, principal, service_id);
      const rows = await ctx.db
        .selectFrom('service_tokens')
        .selectAll()
        .where('service_id', '=', service_id)
        .execute();
      return pageOf(rows, (r) => r.token_hash, req.query as { limit: number }, repr);
    },
  },
  {
    method: 'POST',
    path: '/services/:service_id/service_tokens',
    operationId: 'createServiceToken',
    summary: 'Create a service token; its value is in this answer only',
    tags: ['service tokens'],
    scope: 'management',
    write: true,
    params: pathParams('service_id'),
    revealsSecret: true,
    response: { status: 201, schema: TOKEN_SCHEMA },
    async handler(ctx, principal, req) {
      const { service_id } = params<P>(req);
      const value = randomBytes(32).toString('base64url');
      const row = { service_id, token_hash: sha256(value), created_at: ctx.clock() };
      return commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        await trx.insertInto('service_tokens').values(row).execute();
        const after = repr(row);
        return {
          changes: [
            {
              action: 'service_token.created',
              objectType: 'service_token',
              objectId: after.id,
              before: null,
              after,
            },
          ],
          result: { ...after, value },
        };
      });
    },
  },
  {
    method: 'DELETE',
    path: '/services/:service_id/service_tokens/:token_id',
    operationId: 'deleteServiceToken',
    summary: 'Delete a service token (refused by the backend at once)',
    tags: ['service tokens'],
    scope: 'management',
    write: true,
    params: pathParams('service_id', 'token_id'),
    response: { status: 204 },
    async handler(ctx, principal, req, reply) {
      const { service_id, token_id } = params<P>(req);
      await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        await ownService(trx, principal, service_id);
        const rows = await trx
          .selectFrom('service_tokens')
          .selectAll()
          .where('service_id', '=', service_id)
          .execute();
        const hit = rows.find((r) => tokenId(r.token_hash) === token_id);
        if (!hit) throw new AdminError('not_found', `service token ${token_id} not found`);
        await trx
          .deleteFrom('service_tokens')
          .where('service_id', '=', service_id)
          .where('token_hash', '=', hit.token_hash)
          .execute();
        return {
          changes: [
            {
              action: 'service_token.deleted',
              objectType: 'service_token',
              objectId: token_id,
              before: repr(hit),
              after: null,
            },
          ],
          result: undefined,
        };
      });
      reply.code(204);
      return undefined;
    },
  },
  {
    method: 'POST',
    path: '/provider_key/rotate',
    operationId: 'rotateProviderKey',
    summary:
      "Replace the tenant's provider key; the new key is in this answer only, the old one is refused at once",
    tags: ['provider key'],
    scope: 'management',
    write: true,
    revealsSecret: true,
    response: {
      status: 200,
      schema: {
        type: 'object',
        required: ['provider_key'],
        properties: { provider_key: { type: 'string' } },
      },
    },
    async handler(ctx, principal, req) {
      const tenantId = requireTenant(principal);
      const key = randomBytes(24).toString('hex');
      return commitChange(ctx, req, principal, tenantId, async (trx) => {
        await trx.updateTable('tenants').set({ provider_key: key }).where('id', '=', tenantId).execute();
        return {
          // Secrets never go into the audit log: the record says only that the key changed.
          changes: [
            {
              action: 'provider_key.rotated',
              objectType: 'tenant',
              objectId: tenantId,
              before: null,
              after: null,
            },
          ],
          result: { provider_key: key },
        };
      });
    },
  },
];
