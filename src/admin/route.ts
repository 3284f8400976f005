/**
 * Admin API operations are data: one file per resource exports `AdminRoute`s with their JSON schemas;
 * `routes/index.ts` lists them, the server registers them and the OpenAPI document is built from the
 * same list, so a route cannot exist without being documented.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely, Transaction } from 'kysely';
import type { AuthView, ErrorLog } from '../store/ports.js';
import type { DB } from '../store/sql/schema.js';
import type { Principal } from './auth.js';

/** A change committed through the admin API: what the audit log records and webhooks announce. */
export interface ChangeRecord {
  /** `<object_type>.<verb>`, e.g. `application.suspended`, `service.updated`. */
  readonly action: string;
  readonly objectType: string;
  readonly objectId: string;
  /** The object before and after (null when created / deleted); secrets never included. */
  readonly before: unknown;
  readonly after: unknown;
}

/** Runs inside the change's transaction, after the change: e.g. the webhook outbox. */
export type ChangeHook = (
  trx: Transaction<DB>,
  tenantId: string | null,
  change: ChangeRecord,
  at: number,
) => Promise<void>;

/** Everything an admin route handler may use. */
export interface AdminContext {
  readonly db: Kysely<DB>;
  readonly errorLog: ErrorLog;
  readonly clock: () => number;
  /** The auth view to re-project a tenant into right after its change (absent: the poller does it). */
  readonly authView?: AuthView;
  /** Hooks run in every change's transaction (registered by the composition root). */
  readonly changeHooks?: readonly ChangeHook[];
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
  /** Who may call: a tenant's token (default) or a platform token. */
  readonly audience?: 'tenant' | 'platform';
  readonly params?: JsonSchema;
  readonly query?: JsonSchema;
  readonly body?: JsonSchema;
  /** Success status and its body schema (undefined = no body). */
  readonly response: { readonly status: number; readonly schema?: JsonSchema };
  /**
   * The answer shows a secret once (a token, a key): a retry with the same Idempotency-Key is then
   * refused (409) instead of replayed, so the secret is never stored in the replay store.
   */
  readonly revealsSecret?: boolean;
  /** A valid request body: shown in the OpenAPI document, used by the security suite. */
  readonly example?: { readonly body?: unknown };
  readonly handler: (
    ctx: AdminContext,
    principal: Principal,
    req: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<unknown>;
}
