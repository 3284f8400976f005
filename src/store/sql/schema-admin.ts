/** Table types of the admin API's own tables (migration 003): audit log, idempotency keys. */
import type { AutoId, EpochMs } from './schema-config.js';

/** One change made through the admin API or a config apply. `before`/`after` are JSON text. */
export interface AuditLogTable {
  seq: AutoId;
  id: string;
  /** null for platform-wide changes. */
  tenant_id: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  object_type: string;
  object_id: string;
  before: string | null;
  after: string | null;
  request_id: string;
  created_at: EpochMs;
}

/** The stored answer to a POST sent with an Idempotency-Key, replayed for a retry. */
export interface IdempotencyKeysTable {
  /** The token's tenant (or `platform`) and the token id: keys never collide across callers. */
  scope: string;
  key: string;
  /** SHA-256 of method, path and body: the same key with another request is refused. */
  request_hash: string;
  status: number;
  body: string;
  created_at: EpochMs;
}

export interface AdminTables {
  audit_log: AuditLogTable;
  idempotency_keys: IdempotencyKeysTable;
}
