/**
 * Admin API: a service's policy chain, read and replaced whole. Names come from the gateway's list;
 * each configuration is checked against its policy's schema (src/config/policies.ts), as `apply` does,
 * and stored as sent.
 */
import { formatPath } from '../../../config/faults.js';
import { checkChainForService, checkPolicies } from '../../../config/policies.js';
import { POLICY_NAMES } from '../../../config/schema.js';
import { parsePolicies } from '../../../store/sql/repo/catalog.js';
import { requireTenant } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, withEtag } from '../../http-conventions.js';
import type { AdminRoute, JsonSchema } from '../../route.js';
import { ownService, params, pathParams } from './common.js';

const POLICY: JsonSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', enum: [...POLICY_NAMES] },
    enabled: { type: 'boolean', default: true },
    configuration: { type: 'object', default: {} },
  },
  additionalProperties: false,
};
const CHAIN: JsonSchema = { type: 'array', items: POLICY, maxItems: 100 };

type P = { service_id: string };
type Policy = { name: string; enabled: boolean; configuration: Record<string, unknown> };

export const POLICY_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET',
    path: '/services/:service_id/policies',
    operationId: 'getPolicies',
    summary: "Get a service's policy chain, in order",
    tags: ['policies'],
    scope: 'management',
    write: false,
    params: pathParams('service_id'),
    response: { status: 200, schema: CHAIN },
    async handler(ctx, principal, req, reply) {
      const svc = await ownService(ctx.db, principal, params<P>(req).service_id);
      return withEtag(reply, parsePolicies(svc.policies));
    },
  },
  {
    method: 'PUT',
    path: '/services/:service_id/policies',
    operationId: 'replacePolicies',
    summary: "Replace a service's policy chain",
    tags: ['policies'],
    scope: 'management',
    write: true,
    params: pathParams('service_id'),
    body: CHAIN,
    response: { status: 200, schema: CHAIN },
    async handler(ctx, principal, req, reply) {
      const { service_id } = params<P>(req);
      // Stored with a fixed key order, so the config's export compares equal to what was sent.
      const chain = (req.body as Policy[]).map((p) => ({
        name: p.name,
        enabled: p.enabled,
        configuration: p.configuration,
      }));
      const svc = await ownService(ctx.db, principal, service_id);
      const faults = [
        ...checkPolicies(chain),
        ...checkChainForService(chain, (JSON.parse(svc.auth) as { mode: string }).mode),
      ];
      if (faults.length > 0) {
        const first = faults[0]!;
        throw new AdminError(
          'invalid_request',
          `${formatPath(first.path)}: ${first.message}${faults.length > 1 ? ` (and ${faults.length - 1} more)` : ''}`,
          {
            errors: faults.map((f) => ({ path: `body/${f.path.join('/')}`, message: f.message })),
          },
        );
      }
      const out = await commitChange(ctx, req, principal, requireTenant(principal), async (trx) => {
        const before = parsePolicies((await ownService(trx, principal, service_id)).policies);
        checkIfMatch(req, before);
        const changed = JSON.stringify(before) !== JSON.stringify(chain);
        if (changed)
          await trx
            .updateTable('services')
            .set({ policies: JSON.stringify(chain) })
            .where('id', '=', service_id)
            .execute();
        return {
          changes: changed
            ? [
                {
                  action: 'service.policies_updated',
                  objectType: 'service',
                  objectId: service_id,
                  before,
                  after: chain,
                },
              ]
            : [],
          result: chain,
        };
      });
      return withEtag(reply, out);
    },
  },
];
