/**
 * Validation of a config document: the schema (types, unknown fields, formats) and then the
 * cross-references (checks.ts). Every fault is reported with its path; a document with any is refused.
 */
import { crossCheck } from './checks.js';
import { type ConfigFault, formatPath } from './faults.js';
import { type ConfigDoc, ConfigSchema } from './schema.js';
import { issueFaults, zodMessage } from './zod-messages.js';

export type Validation = { ok: true; doc: ConfigDoc } | { ok: false; faults: ConfigFault[] };

/** Validates a parsed (YAML/JSON) value; returns the document with defaults filled, or every fault. */
export function validateConfig(input: unknown): Validation {
  const parsed = ConfigSchema.safeParse(input, { error: zodMessage });
  if (!parsed.success) {
    const faults: ConfigFault[] = issueFaults(parsed.error.issues).map((f) => ({
      path: formatPath(f.path),
      message: f.message,
    }));
    return { ok: false, faults };
  }
  const faults = crossCheck(parsed.data);
  return faults.length > 0 ? { ok: false, faults } : { ok: true, doc: parsed.data };
}
