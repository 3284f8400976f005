/**
 * Validation of a config document: the schema (types, unknown fields, formats) and then the
 * cross-references (checks.ts). Every fault is reported with its path; a document with any is refused.
 */
import type { z } from 'zod';
import { crossCheck } from './checks.js';
import { type ConfigFault, formatPath } from './faults.js';
import { type ConfigDoc, ConfigSchema } from './schema.js';

export type Validation = { ok: true; doc: ConfigDoc } | { ok: false; faults: ConfigFault[] };

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

const EXPECTED: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  record: 'a mapping',
};

/** Messages for the issues a schema field did not word itself (per-parse error map of zod v4). */
function message(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${kindOf(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'string')
        return iss.minimum === 1 ? 'must not be empty' : `must have at least ${iss.minimum} characters`;
      if (iss.origin === 'array') return `must have at least ${iss.minimum} item(s)`;
      return `must be at least ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'string') return `must have at most ${iss.maximum} characters`;
      if (iss.origin === 'array') return `must have at most ${iss.maximum} item(s)`;
      return `must be at most ${iss.maximum}`;
    case 'invalid_value':
      return iss.values.length === 1
        ? `must be ${JSON.stringify(iss.values[0])}`
        : `must be one of: ${iss.values.map(String).join(', ')}`;
    default:
      return undefined;
  }
}

/** Validates a parsed (YAML/JSON) value; returns the document with defaults filled, or every fault. */
export function validateConfig(input: unknown): Validation {
  const parsed = ConfigSchema.safeParse(input, { error: message });
  if (!parsed.success) {
    const faults: ConfigFault[] = [];
    for (const iss of parsed.error.issues) {
      const path = iss.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (iss.code === 'unrecognized_keys') {
        for (const k of iss.keys) faults.push({ path: formatPath([...path, k]), message: 'unknown field' });
      } else {
        faults.push({ path: formatPath(path), message: iss.message });
      }
    }
    return { ok: false, faults };
  }
  const faults = crossCheck(parsed.data);
  return faults.length > 0 ? { ok: false, faults } : { ok: true, doc: parsed.data };
}
