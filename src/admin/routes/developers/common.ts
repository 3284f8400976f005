/** Shared pieces of the developer-side routes: schemas, lookups that 404 across tenants, conflicts. */
import { AdminError } from '../../errors.js';
import type { JsonSchema } from '../../route.js';

/** A params schema of string ids. */
export function idParams(...names: string[]): JsonSchema {
  return {
    type: 'object',
    required: names,
    properties: Object.fromEntries(names.map((n) => [n, { type: 'string', minLength: 1, maxLength: 255 }])),
    additionalProperties: false,
  };
}

/** A strict object schema. */
export function obj(properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  return { type: 'object', required, properties, additionalProperties: false };
}

/** A list query: page parameters and the given filters. */
export function listQuery(filters: Record<string, JsonSchema> = {}): JsonSchema {
  return {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
      cursor: { type: 'string', maxLength: 512 },
      ...filters,
    },
    additionalProperties: false,
  };
}

export const str = (max = 255): JsonSchema => ({ type: 'string', minLength: 1, maxLength: max });
export const nullableStr = (max = 255): JsonSchema => ({ type: ['string', 'null'], maxLength: max });
export const EMAIL: JsonSchema = { type: 'string', format: 'email', maxLength: 254 };
export const SLUG: JsonSchema = {
  type: 'string',
  pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$',
};
export const URL_SCHEMA: JsonSchema = { type: 'string', pattern: '^https?://', maxLength: 2048 };
export const ISO: JsonSchema = { type: 'string', format: 'date-time' };

export function notFound(what: string, id: string): AdminError {
  return new AdminError('not_found', `${what} ${id} not found`);
}

/** True for a unique/primary-key violation of SQLite or PostgreSQL. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Runs a write, turning a unique violation (a race past the pre-checks) into 409 conflict. */
export async function orConflict<T>(message: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isUniqueViolation(err)) throw new AdminError('conflict', message);
    throw err;
  }
}

/** Epoch ms → ISO string (null kept). */
export function iso(ms: number | string | null): string | null {
  return ms === null ? null : new Date(Number(ms)).toISOString();
}

/** The fields of `patch` that differ from `current` (for update audit records). */
export function changed<T extends object>(current: T, patch: Partial<T>): (keyof T)[] {
  return (Object.keys(patch) as (keyof T)[]).filter(
    (k) => patch[k] !== undefined && JSON.stringify(patch[k]) !== JSON.stringify(current[k]),
  );
}
