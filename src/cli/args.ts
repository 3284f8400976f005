/** Command-line parsing for every subcommand: strict (unknown options are errors), with usage texts. */
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  readonly code = 'usage';
}

export const ROLES = ['admin', 'backend', 'gateway', 'worker'] as const;
export type Role = (typeof ROLES)[number];

export interface StartArgs {
  readonly config?: string;
  readonly roles: readonly Role[];
  readonly dataDir?: string;
  readonly adminPort?: number;
  readonly backendPort?: number;
  readonly gatewayPort?: number;
}

function parsePort(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535)
    throw new UsageError(`--${name} must be a port number (0-65535), got "${v}"`);
  return n;
}

function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function parseStartArgs(argv: string[]): StartArgs {
  const { values } = parse(argv, {
    config: { type: 'string', short: 'c' },
    roles: { type: 'string' },
    'data-dir': { type: 'string' },
    'admin-port': { type: 'string' },
    'backend-port': { type: 'string' },
    'gateway-port': { type: 'string' },
  });
  const v = values as Record<string, string | undefined>;
  const roles = (v.roles ?? ROLES.join(','))
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r)) {
      throw new UsageError(`--roles: unknown role "${r}" (expected some of ${ROLES.join(', ')})`);
    }
  }
  if (roles.length === 0) throw new UsageError('--roles: name at least one role');
  return {
    config: v.config,
    roles: [...new Set(roles)] as Role[],
    dataDir: v['data-dir'],
    adminPort: parsePort('admin-port', v['admin-port']),
    backendPort: parsePort('backend-port', v['backend-port']),
    gatewayPort: parsePort('gateway-port', v['gateway-port']),
  };
}

export interface ApplyArgs {
  readonly file: string;
  readonly dryRun: boolean;
  readonly dataDir?: string;
  /** Admin API to apply through (a running server); absent = write the database directly. */
  readonly server?: string;
  readonly token?: string;
}

export function parseApplyArgs(argv: string[]): ApplyArgs {
  const { values } = parse(argv, {
    file: { type: 'string', short: 'f' },
    'dry-run': { type: 'boolean' },
    'data-dir': { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
  });
  const v = values as Record<string, string | boolean | undefined>;
  if (typeof v.file !== 'string')
    throw new UsageError('apply needs -f FILE (YAML or JSON; - for standard input)');
  return {
    file: v.file,
    dryRun: v['dry-run'] === true,
    dataDir: v['data-dir'] as string | undefined,
    server: v.server as string | undefined,
    token: v.token as string | undefined,
  };
}

export interface ExportArgs {
  readonly format: 'yaml' | 'json';
  readonly tenants?: readonly string[];
  readonly dataDir?: string;
}

export function parseExportArgs(argv: string[]): ExportArgs {
  const { values } = parse(argv, {
    format: { type: 'string', short: 'o' },
    tenant: { type: 'string', multiple: true },
    'data-dir': { type: 'string' },
  });
  const v = values as { format?: string; tenant?: string[]; 'data-dir'?: string };
  const format = v.format ?? 'yaml';
  if (format !== 'yaml' && format !== 'json')
    throw new UsageError(`--format must be yaml or json, got "${format}"`);
  return { format, tenants: v.tenant, dataDir: v['data-dir'] };
}
