/** Builds the OpenAPI 3.1 document of the admin API from the route list (the single source of truth). */
import { ADMIN_ERRORS } from './errors.js';
import type { AdminRoute } from './route.js';

const toOpenApiPath = (p: string): string => p.replace(/:([A-Za-z_]+)/g, '{$1}');

export function buildOpenApi(routes: readonly AdminRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = `/admin/api${toOpenApiPath(r.path)}`;
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      const props = (schema?.properties ?? {}) as Record<string, unknown>;
      const required = (schema?.required ?? []) as string[];
      for (const [name, s] of Object.entries(props)) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || required.includes(name),
          schema: s,
        });
      }
    }
    const responses: Record<string, unknown> = {
      [String(r.response.status)]: r.response.schema
        ? { description: 'Success', content: { 'application/json': { schema: r.response.schema } } }
        : { description: 'Success' },
    };
    for (const code of ['invalid_request', 'unauthorized', 'forbidden', 'not_found'] as const) {
      responses[String(ADMIN_ERRORS[code].status)] = { $ref: '#/components/responses/Problem' };
    }
    paths[path] ??= {};
    paths[path]![r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      tags: r.tags,
      'x-scope': r.scope,
      'x-write': r.write,
      parameters,
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tollgate admin API', version },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code', 'detail'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            code: { type: 'string', enum: Object.keys(ADMIN_ERRORS) },
            detail: { type: 'string' },
            instance: { type: 'string' },
          },
        },
      },
      responses: {
        Problem: {
          description: 'An RFC 9457 problem',
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
    },
  };
}
