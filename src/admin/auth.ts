/**
 * Bearer-token authentication of admin API calls. Tokens are stored as SHA-256 digests, so the lookup
 * is by digest (timing reveals nothing of the token); every call is then scoped to the token's tenant.
 */
import type { Kysely } from 'kysely';
import { sha256 } from '../store/digest.js';
import { findTokenWithOwner } from '../store/sql/repo/developers.js';
import type { DB } from '../store/sql/schema.js';
import { AdminError } from './errors.js';

export interface Principal {
  readonly tokenId: string;
  /** null for a platform token. */
  readonly tenantId: string | null;
  readonly scopes: readonly string[];
  readonly readOnly: boolean;
  /** The user the token belongs to, when it is a user's personal token. */
  readonly userId?: string | null;
  /** Services a member user may manage; null or absent = every service of the tenant. */
  readonly serviceIds?: readonly string[] | null;
  /** The owning user's role (absent or null for a token that belongs to no user: full tenant access). */
  readonly role?: 'admin' | 'member' | null;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export async function authenticate(
  db: Kysely<DB>,
  authorization: string | undefined,
  now: number,
): Promise<Principal> {
  const m = authorization ? BEARER.exec(authorization) : null;
  if (!m) throw new AdminError('unauthorized', 'send Authorization: Bearer <token>');
  const row = await findTokenWithOwner(db, sha256(m[1]!));
  if (!row) throw new AdminError('unauthorized', 'the token is not valid');
  if (row.expiresAt !== null && row.expiresAt <= now) throw new AdminError('token_expired');
  const base = { tokenId: row.id, tenantId: row.tenantId, readOnly: row.readOnly };
  if (row.userId === null) return { ...base, scopes: row.scopes };
  // A user's token is narrowed by the user's current permissions (read at every call: a changed
  // permission applies at once): a member reaches only its services, and only its areas' scopes.
  const perms = row.permissions;
  const member = row.role !== 'admin';
  const areas = member && perms?.areas ? new Set(perms.areas) : null;
  return {
    ...base,
    scopes: areas ? row.scopes.filter((s) => areas.has(s)) : row.scopes,
    userId: row.userId,
    role: member ? 'member' : 'admin',
    serviceIds: !member ? null : perms === null ? [] : perms.services === 'all' ? null : [...perms.services],
  };
}

/** Throws unless the principal has full tenant rights: a token of no user, or of an admin user. */
export function requireTenantAdmin(p: Principal): void {
  if (p.role === 'member') throw new AdminError('forbidden', 'this call needs an admin user');
}

/** Throws unless the principal may use `scope` (read, or write when `write`). */
export function requireScope(p: Principal, scope: string, write: boolean): void {
  if (!p.scopes.includes(scope)) throw new AdminError('forbidden', `this call needs the ${scope} scope`);
  if (write && p.readOnly) throw new AdminError('forbidden', 'this token is read-only');
}

/** Throws unless the principal is a tenant's token (tenant resources). */
export function requireTenant(p: Principal): string {
  if (p.tenantId === null) throw new AdminError('forbidden', 'this call needs a tenant token');
  return p.tenantId;
}

/** Throws unless the principal is a platform token (platform-wide resources such as tenants). */
export function requirePlatform(p: Principal): void {
  if (p.tenantId !== null) throw new AdminError('forbidden', 'this call needs a platform token');
}

/**
 * Throws not_found unless the principal may manage `serviceId` (a member user limited to some services
 * sees the others as missing, like another tenant's).
 */
export function assertServiceAccess(p: Principal, serviceId: string): void {
  if (p.serviceIds && !p.serviceIds.includes(serviceId)) {
    throw new AdminError('not_found', `service ${serviceId} not found`);
  }
}
