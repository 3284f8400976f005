/**
 * The admin listener: Fastify serving the admin API under /admin/api (bearer auth, tenant scope,
 * problem+json errors), its OpenAPI document, and /health + /metrics.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyRequest, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../obs/logger.js';
import { authenticate, type Principal, requirePlatform, requireScope, requireTenant } from './auth.js';
import { ADMIN_ERRORS, AdminError, problem } from './errors.js';
import { claimIdempotencyKey, completeIdempotencyKey, type IdempotencySlot } from './idempotency.js';
import { buildOpenApi } from './openapi.js';
import { AdminRateLimiter } from './rate-limit.js';
import type { AdminContext, AdminRoute } from './route.js';
import { ADMIN_ROUTES } from './routes/index.js';

export interface AdminServerOptions {
  readonly ctx: AdminContext;
  readonly registry: Registry;
  readonly ready: () => boolean;
  readonly logger: Logger;
  readonly version: string;
  readonly routes?: readonly AdminRoute[];
  /** Admin API calls per token and minute (default 1200). */
  readonly rateLimitPerMinute?: number;
}

export async function buildAdminServer(opts: AdminServerOptions) {
  const routes = opts.routes ?? ADMIN_ROUTES;
  const app = Fastify({
    loggerInstance: opts.logger.child({ role: 'admin' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: true },
    },
  });

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  // An empty body with a JSON content type is no body (clients often send the header on bodiless POSTs);
  // anything else goes through Fastify's own parser, with its prototype-poisoning protection.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    defaultJson(req, text, done);
  });

  app.setErrorHandler((err: FastifyError | AdminError, req, reply) => {
    if (err instanceof AdminError) {
      const s = ADMIN_ERRORS[err.code].status;
      return reply
        .code(s)
        .type('application/problem+json')
        .send(problem(err.code, err.message, req.url, err.extra));
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const errors = fe.validation.map((v) => ({
        path: `${fe.validationContext ?? ''}${v.instancePath}`,
        message: v.message ?? 'invalid',
      }));
      return reply
        .code(400)
        .type('application/problem+json')
        .send(problem('invalid_request', fe.message, req.url, { errors }));
    }
    const status = fe.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code =
        status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
      return reply
        .code(status)
        .type('application/problem+json')
        .send(problem(code, fe.message, req.url));
    }
    req.log.error({ err }, 'admin request failed');
    const code = (err as { retryable?: boolean }).retryable ? 'unavailable' : 'internal_error';
    return reply
      .code(ADMIN_ERRORS[code].status)
      .type('application/problem+json')
      .send(problem(code, `request ${req.id} failed; see the server log`, req.url));
  });

  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .type('application/problem+json')
      .send(problem('not_found', `no route ${req.method} ${req.url}`));
  });

  app.get('/health', async (_req, reply) => {
    const ok = opts.ready();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'starting' });
  });
  app.get('/metrics', async (_req, reply) => {
    return reply.type(opts.registry.contentType).send(await opts.registry.metrics());
  });

  const openapi = buildOpenApi(routes, opts.version);
  app.get('/admin/api/openapi.json', async () => openapi);

  const principals = new WeakMap<FastifyRequest, Principal>();
  const slots = new WeakMap<FastifyRequest, { slot: IdempotencySlot; secret: boolean }>();
  const limiter = new AdminRateLimiter(opts.rateLimitPerMinute ?? 1200, opts.ctx.clock);

  // A claimed Idempotency-Key stores whatever answer the request got (or is freed on a 5xx).
  app.addHook('onSend', async (req, reply, payload) => {
    const claimed = slots.get(req);
    if (claimed) {
      slots.delete(req);
      const body =
        typeof payload === 'string'
          ? payload
          : payload === undefined || payload === null
            ? ''
            : String(payload);
      await completeIdempotencyKey(opts.ctx.db, claimed.slot, reply.statusCode, body, claimed.secret);
    }
    return payload;
  });

  for (const r of routes) {
    app.route({
      method: r.method,
      url: `/admin/api${r.path}`,
      schema: {
        ...(r.params ? { params: r.params } : {}),
        ...(r.query ? { querystring: r.query } : {}),
        ...(r.body ? { body: r.body } : {}),
      },
      // Authentication runs before validation: a caller without a valid token learns nothing else.
      onRequest: async (req, reply) => {
        const principal = await authenticate(opts.ctx.db, req.headers.authorization, opts.ctx.clock());
        limiter.hit(principal.tokenId, reply);
        if (r.audience === 'platform') requirePlatform(principal);
        else requireTenant(principal);
        requireScope(principal, r.scope, r.write);
        principals.set(req, principal);
      },
      preHandler: async (req, reply) => {
        if (r.method !== 'POST') return;
        const principal = principals.get(req);
        if (!principal) return;
        const secret = r.revealsSecret === true;
        const slot = await claimIdempotencyKey(opts.ctx.db, req, reply, principal, opts.ctx.clock(), secret);
        if (slot) slots.set(req, { slot, secret });
      },
      handler: async (req, reply) => {
        const principal = principals.get(req);
        if (!principal) throw new AdminError('unauthorized');
        const result = await r.handler(opts.ctx, principal, req, reply);
        if (reply.sent) return reply;
        if (result === undefined)
          return reply.code(reply.statusCode === 200 ? r.response.status : reply.statusCode).send();
        return reply.code(r.response.status).send(result);
      },
    });
  }
  return app;
}
