/** Table types of tenant users, account users (migration 005), and the columns 005 adds to 001's tables. */
import type { Generated } from 'kysely';
import type { EpochMs } from './schema-config.js';

/** A tenant's user (the provider's staff). Members see only the services their permissions name. */
export interface UsersTable {
  id: string;
  tenant_id: string;
  /** Unique per tenant. */
  email: string;
  name: string | null;
  /** `admin` | `member`. */
  role: string;
  /** JSON `{services: string[] | "all", areas?: string[]}` (members only; admins: `{"services":"all"}`). */
  permissions: string;
  created_at: EpochMs;
  updated_at: EpochMs;
}

/** A developer of a developer account. */
export interface AccountUsersTable {
  id: string;
  tenant_id: string;
  account_id: string;
  /** Unique per account. */
  email: string;
  name: string | null;
  /** `admin` | `member`. */
  role: string;
  created_at: EpochMs;
  updated_at: EpochMs;
}

// Migration 005 adds columns to tables of 001: declared by merging into their interfaces.
declare module './schema-config.js' {
  interface AccountsTable {
    /** `approved` | `pending` | `suspended`; the apps of a non-approved account are refused. */
    state: Generated<string>;
  }
  interface ApplicationsTable {
    description: string | null;
  }
  interface AdminTokensTable {
    /** The tenant user owning the token (its role and permissions narrow the token), or null. */
    user_id: string | null;
  }
}

export interface DeveloperTables {
  users: UsersTable;
  account_users: AccountUsersTable;
}
