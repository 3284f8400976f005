/** Config faults: where in the document something is wrong, and what. One format for every caller. */

/** One fault of a config document. `path` is written like `tenants[0].services[1].plans[0].limits.hits.dai`. */
export interface ConfigFault {
  readonly path: string;
  readonly message: string;
}

/** The faults of a document that was refused (nothing of it was applied). */
export class ConfigValidationError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly faults: readonly ConfigFault[]) {
    super(`the config has ${faults.length} fault(s):\n${faults.map(formatFault).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Joins path segments: numbers as `[i]`, identifiers as `.name`, anything else as `["…"]`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (IDENT.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** `path: message`, or just the message for a fault of the whole document. */
export function formatFault(f: ConfigFault): string {
  return f.path === '' ? f.message : `${f.path}: ${f.message}`;
}
