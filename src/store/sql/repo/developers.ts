/**
 * Developer-side lookups: token owners (for admin authentication), the first platform token, the
 * columns migration 005 added to 001's tables (account state, app description), and list positions.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { sha256 } from '../../digest.js';
import type { DB } from '../schema.js';
import { newId } from './ids.js';
import { num } from './records.js';

/** What a tenant user may reach: services by id (or all), and optionally some scopes only. */
export interface UserPermissions {
  readonly services: readonly string[] | 'all';
  readonly areas?: readonly string[];
}

/** An admin token with its owning user, if any (role and permissions narrow the token). */
export interface TokenOwnerRecord {
  readonly id: string;
  readonly tenantId: string | null;
  readonly scopes: string[];
  readonly readOnly: boolean;
  readonly expiresAt: number | null;
  readonly userId: string | null;
  readonly role: 'admin' | 'member' | null;
  readonly permissions: UserPermissions | null;
}

/** The admin token whose SHA-256 hex digest is `hash`, with its owner, or null. */
export async function findTokenWithOwner(db: Kysely<DB>, hash: string): Promise<TokenOwnerRecord | null> {
  const r = await db
    .selectFrom('admin_tokens')
    .leftJoin('users', 'users.id', 'admin_tokens.user_id')
    .select([
      'admin_tokens.id as id',
      'admin_tokens.tenant_id as tenantId',
      'admin_tokens.scopes as scopes',
      'admin_tokens.read_only as readOnly',
      'admin_tokens.expires_at as expiresAt',
      'admin_tokens.user_id as userId',
      'users.role as role',
      'users.permissions as permissions',
    ])
    .where('admin_tokens.token_hash', '=', hash)
    .executeTakeFirst();
  if (!r) return null;
  return {
    id: r.id,
    tenantId: r.tenantId,
    scopes: JSON.parse(r.scopes) as string[],
    readOnly: r.readOnly === 1,
    expiresAt: r.expiresAt === null ? null : num(r.expiresAt),
    userId: r.userId,
    role: r.role === 'admin' || r.role === 'member' ? r.role : null,
    permissions: r.permissions ? (JSON.parse(r.permissions) as UserPermissions) : null,
  };
}

/** A new admin API token value (shown once; only its digest is stored). */
export function newTokenValue(): string {
  return `tg_${randomBytes(24).toString('base64url')}`;
}

/** A new provider key (the tenant's Service Management API key). */
export function newProviderKey(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Creates a platform token (every scope, read-write, no tenant): how an installation gets its first
 * admin credential. Returns the token value, which is not stored anywhere.
 */
export async function createPlatformToken(
  db: Kysely<DB>,
  name: string,
  now: number = Date.now(),
): Promise<{ id: string; value: string }> {
  const id = newId();
  const value = newTokenValue();
  await db
    .insertInto('admin_tokens')
    .values({
      id,
      tenant_id: null,
      name,
      token_hash: sha256(value),
      scopes: JSON.stringify(['management', 'analytics', 'billing']),
      read_only: 0,
      expires_at: null,
      position: 0,
      created_at: now,
    })
    .execute();
  return { id, value };
}

/** Columns of 001's tables that migration 005 added, keyed by row id (export and apply read them). */
export interface DeveloperExtras {
  /** account id → state. */
  readonly accountStates: Map<string, string>;
  /** application id → description. */
  readonly appDescriptions: Map<string, string | null>;
}

export async function loadDeveloperExtras(db: Kysely<DB>, tenantId: string): Promise<DeveloperExtras> {
  const [accounts, apps] = await Promise.all([
    db.selectFrom('accounts').select(['id', 'state']).where('tenant_id', '=', tenantId).execute(),
    db.selectFrom('applications').select(['id', 'description']).where('tenant_id', '=', tenantId).execute(),
  ]);
  return {
    accountStates: new Map(accounts.map((a) => [a.id, a.state])),
    appDescriptions: new Map(apps.map((a) => [a.id, a.description])),
  };
}

/** Ids of the tenant's accounts that are not approved (their applications are refused). */
export async function unapprovedAccountIds(db: Kysely<DB>, tenantId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('accounts')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('state', '!=', 'approved')
    .execute();
  return new Set(rows.map((r) => r.id));
}
