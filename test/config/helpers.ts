/** Helpers of the config suites: the acme fixture, and a dump of every control plane table. */
import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { parseConfigText } from '../../src/config/load.js';
import type { DB } from '../../src/store/sql/schema.js';

export const ACME_YAML = readFileSync(new URL('../fixtures/acme.yaml', import.meta.url), 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: tests edit the parsed document freely
export type AnyDoc = any;

/** A fresh parsed copy of the acme fixture (or of `text`). */
export function acme(text = ACME_YAML): AnyDoc {
  const p = parseConfigText(text);
  if (!p.ok) throw new Error(p.faults.map((f) => f.message).join('\n'));
  return p.value;
}

const TABLES = [
  'tenants',
  'admin_tokens',
  'services',
  'service_tokens',
  'metrics',
  'mapping_rules',
  'plans',
  'usage_limits',
  'pricing_rules',
  'accounts',
  'applications',
  'app_keys',
  'referrer_filters',
] as const;

/** Every row of every control plane table, in a stable order: equal dumps mean nothing changed. */
export async function dump(db: Kysely<DB>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of TABLES) {
    const rows = await db.selectFrom(t).selectAll().execute();
    out[t] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}
