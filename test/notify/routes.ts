/** A test-only admin route that changes an account through commitChange: real kernel code, no mock. */
import type { Principal } from '../../src/admin/auth.js';
import { commitChange } from '../../src/admin/change.js';
import type { AdminRoute } from '../../src/admin/route.js';

export const accountEmailRoute: AdminRoute = {
  method: 'POST',
  path: '/t/accounts/:name/email',
  operationId: 'tSetAccountEmail',
  summary: 'test: set an account email',
  tags: ['test'],
  scope: 'management',
  write: true,
  params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
  body: {
    type: 'object',
    required: ['email'],
    properties: { email: { type: 'string' } },
    additionalProperties: false,
  },
  response: { status: 200, schema: { type: 'object' } },
  async handler(ctx, p: Principal, req) {
    const tenantId = p.tenantId!;
    const { name } = req.params as { name: string };
    const { email } = req.body as { email: string };
    return commitChange(ctx, req, p, tenantId, async (trx) => {
      const before = await trx
        .selectFrom('accounts')
        .select(['id', 'name', 'email'])
        .where('tenant_id', '=', tenantId)
        .where('name', '=', name)
        .executeTakeFirstOrThrow();
      await trx.updateTable('accounts').set({ email }).where('id', '=', before.id).execute();
      const after = { ...before, email };
      return {
        changes: [{ action: 'account.updated', objectType: 'account', objectId: before.id, before, after }],
        result: after,
      };
    });
  },
};
