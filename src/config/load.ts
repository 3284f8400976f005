/** Reading a config: YAML or JSON (JSON is YAML 1.2), from a string or a file, then validated. */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { ConfigFault } from './faults.js';
import { type Validation, validateConfig } from './validate.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; faults: ConfigFault[] };

/** Parses YAML or JSON text. Duplicate keys are faults (a later key would silently win otherwise). */
export function parseConfigText(text: string): Parsed {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      // prettyErrors puts "at line L, column C:" on the message's first line; the excerpt below is dropped.
      faults: doc.errors.map((e) => ({
        path: '',
        message: `not valid YAML or JSON: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`,
      })),
    };
  }
  return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) };
}

/** Parses and validates config text. */
export function loadConfig(text: string): Validation {
  const parsed = parseConfigText(text);
  return parsed.ok ? validateConfig(parsed.value) : parsed;
}

/** Reads, parses and validates a config file. I/O errors are thrown, document faults returned. */
export async function loadConfigFile(path: string): Promise<Validation> {
  return loadConfig(await readFile(path, 'utf8'));
}
