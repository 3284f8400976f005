/**
 * Admin API operations are data: one file per operation (or resource) exports `AdminRoute`s with
 * their JSON schemas; `routes/index.ts` lists them, the server registers them and the OpenAPI
 * document is built from the same list, so a route cannot exist without being documented.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { ErrorLog } from '../store/ports.js';
import type { DB } from '../store/sql/schema.js';
import type { Principal } from './auth.js';

/** Everything an admin route handler may use. */
export interface AdminContext {
  readonly db: Kysely<DB>;
  readonly errorLog: ErrorLog;
  readonly clock: () => number;
}

export type JsonSchema = Record<string, unknown>;

export interface AdminRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Fastify path syntax (`/services/:service_id/errors`), relative to /admin/api. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tags: readonly string[];
  /** Scope the token needs (management, analytics, billing), and whether the call writes. */
  readonly scope: 'management' | 'analytics' | 'billing';
  readonly write: boolean;
  readonly params?: JsonSchema;
  readonly query?: JsonSchema;
  readonly body?: JsonSchema;
  /** Success status and its body schema (undefined = no body). */
  readonly response: { readonly status: number; readonly schema?: JsonSchema };
  readonly handler: (
    ctx: AdminContext,
    principal: Principal,
    req: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<unknown>;
}
