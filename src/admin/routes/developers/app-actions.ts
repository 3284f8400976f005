/** Application state and plan actions: change_plan, approve, suspend, resume (all live in the auth view at once). */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../auth.js';
import { commitChange } from '../../change.js';
import { AdminError } from '../../errors.js';
import { checkIfMatch, withEtag } from '../../http-conventions.js';
import type { AdminContext, AdminRoute } from '../../route.js';
import { type App, appParams, appSchema, audited, loadApp } from './app-common.js';
import { obj, str } from './common.js';

/** Moves an application from one of `from` to `to`, or answers 409 when it is not in one of them. */
async function transition(
  ctx: AdminContext,
  principal: Principal,
  req: FastifyRequest,
  from: readonly string[],
  to: string,
  verb: string,
): Promise<App> {
  const { application_id } = req.params as { application_id: string };
  const { tenantId, app } = await loadApp(ctx, principal, application_id);
  checkIfMatch(req, app);
  if (!from.includes(app.state))
    throw new AdminError('conflict', `the application is ${app.state}; ${verb} needs ${from.join(' or ')}`);
  const next = { ...app, state: to };
  await commitChange(ctx, req, principal, tenantId, async (trx) => {
    await trx.updateTable('applications').set({ state: to }).where('id', '=', application_id).execute();
    return {
      changes: [
        {
          action: `application.${verb}`,
          objectType: 'application',
          objectId: application_id,
          before: audited(app),
          after: audited(next),
        },
      ],
      result: null,
    };
  });
  return next;
}

function action(
  name: string,
  summary: string,
  from: readonly string[],
  to: string,
  verb: string,
): AdminRoute {
  return {
    method: 'POST',
    path: `/applications/:application_id/${name}`,
    operationId: `${name}Application`,
    summary,
    tags: ['applications'],
    scope: 'management',
    write: true,
    params: appParams,
    response: { status: 200, schema: appSchema },
    async handler(ctx, principal, req, reply) {
      return withEtag(reply, await transition(ctx, principal, req, from, to, verb));
    },
  };
}

export const APP_ACTION_ROUTES: readonly AdminRoute[] = [
  action('approve', 'Approve a pending application (pending → active)', ['pending'], 'active', 'approved'),
  action(
    'suspend',
    'Suspend an application: refused at once',
    ['active', 'pending'],
    'suspended',
    'suspended',
  ),
  action('resume', 'Resume a suspended application (suspended → active)', ['suspended'], 'active', 'resumed'),
  {
    method: 'POST',
    path: '/applications/:application_id/change_plan',
    operationId: 'changeApplicationPlan',
    summary: 'Move an application to another plan of its service (the new limits apply at once)',
    tags: ['applications'],
    scope: 'management',
    write: true,
    params: appParams,
    body: obj({ plan_id: str() }, ['plan_id']),
    response: { status: 200, schema: appSchema },
    async handler(ctx, principal, req, reply) {
      const { application_id } = req.params as { application_id: string };
      const { plan_id } = req.body as { plan_id: string };
      const { tenantId, app } = await loadApp(ctx, principal, application_id);
      checkIfMatch(req, app);
      const plan = await ctx.db
        .selectFrom('plans')
        .select('id')
        .where('id', '=', plan_id)
        .where('service_id', '=', app.service_id)
        .executeTakeFirst();
      if (!plan)
        throw new AdminError('invalid_request', `plan ${plan_id} is not a plan of service ${app.service_id}`);
      if (plan_id === app.plan_id) return withEtag(reply, app);
      const next = { ...app, plan_id };
      await commitChange(ctx, req, principal, tenantId, async (trx) => {
        await trx.updateTable('applications').set({ plan_id }).where('id', '=', application_id).execute();
        return {
          changes: [
            {
              action: 'application.plan_changed',
              objectType: 'application',
              objectId: application_id,
              before: audited(app),
              after: audited(next),
            },
          ],
          result: null,
        };
      });
      return withEtag(reply, next);
    },
  },
];
