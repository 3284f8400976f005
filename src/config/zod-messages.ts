/**
 * The config's wording for zod issues a schema field did not word itself (a per-parse error map of zod
 * v4), and the faults of a failed parse with their paths: shared by the config and the policy checks.
 */
import type { z } from 'zod';

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

/** Messages for issues a field did not word itself. */
export function zodMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${kindOf(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'string')
        return iss.minimum === 1 ? 'must not be empty' : `must have at least ${iss.minimum} characters`;
      if (iss.origin === 'array') return `must have at least ${iss.minimum} item(s)`;
      return iss.inclusive === false ? `must be more than ${iss.minimum}` : `must be at least ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'string') return `must have at most ${iss.maximum} characters`;
      if (iss.origin === 'array') return `must have at most ${iss.maximum} item(s)`;
      return `must be at most ${iss.maximum}`;
    case 'invalid_value':
      if (iss.input === undefined) return 'required';
      return iss.values.length === 1
        ? `must be ${JSON.stringify(iss.values[0])}`
        : `must be one of: ${iss.values.map(String).join(', ')}`;
    case 'invalid_union':
      return 'not a valid value';
    default:
      return undefined;
  }
}

/** The faults of a failed parse: unknown fields one by one, every other issue with its message. */
export function issueFaults(
  issues: readonly z.core.$ZodIssue[],
): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  for (const iss of issues) {
    const path = iss.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) out.push({ path: [...path, k], message: 'unknown field' });
    } else {
      out.push({ path, message: iss.message });
    }
  }
  return out;
}
