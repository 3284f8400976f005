/**
 * Config files for the CLI: read YAML or JSON from a file (or `-` = standard input), validate, apply in
 * one transaction, re-project the changed tenants into a shared auth view; and export as text.
 */
import { readFile } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { syncAuthView } from '../admin/projection.js';
import { type ApplyResult, applyConfig } from '../config/apply.js';
import { exportConfig, toYaml } from '../config/export.js';
import { ConfigValidationError, formatFault } from '../config/faults.js';
import { parseConfigText } from '../config/load.js';
import type { AuthView } from '../store/ports.js';
import type { DB } from '../store/sql/schema.js';

/** A config file that cannot be read or applied: the message lists every fault. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
}

export async function readText(path: string): Promise<string> {
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : String(err)}`);
  }
}

export interface ApplyFileOptions {
  readonly dryRun?: boolean;
  /** A shared auth view (Redis) to re-project into after the apply; in-process views poll SQL instead. */
  readonly authView?: AuthView | null;
}

/** Parses a config file (YAML or JSON) into a document, or throws ConfigError with the faults. */
export async function readConfigFile(path: string): Promise<unknown> {
  const parsed = parseConfigText(await readText(path));
  if (!parsed.ok) throw new ConfigError(`${path}: ${parsed.faults.map(formatFault).join('\n')}`);
  return parsed.value;
}

export async function applyConfigFile(
  db: Kysely<DB>,
  path: string,
  opts: ApplyFileOptions = {},
): Promise<ApplyResult> {
  const doc = await readConfigFile(path);
  let result: ApplyResult;
  try {
    result = await applyConfig(db, doc, { dryRun: opts.dryRun === true });
  } catch (err) {
    if (err instanceof ConfigValidationError) {
      throw new ConfigError(
        `${path} was not applied (${err.faults.length} fault(s)):\n${err.faults.map(formatFault).join('\n')}`,
      );
    }
    throw err;
  }
  if (opts.authView && result.tenantIds.length > 0) await syncAuthView(db, opts.authView, result.tenantIds);
  return result;
}

export async function exportConfigText(
  db: Kysely<DB>,
  format: 'yaml' | 'json',
  tenants?: readonly string[],
): Promise<string> {
  const doc = await exportConfig(db, tenants ? { tenants: [...tenants] } : {});
  return format === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : toYaml(doc);
}
