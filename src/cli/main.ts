/** The `tollgate` command: parses the subcommand and its arguments, runs it, returns the exit code. */

import { ApiError, createClient } from './admin/client.js';
import { RESOURCES, resourceHelp, runResourceCommand } from './admin/run.js';
import {
  type ApplyArgs,
  type ExportArgs,
  parseApplyArgs,
  parseExportArgs,
  parseStartArgs,
  UsageError,
} from './args.js';
import { applyConfigFile, ConfigError, exportConfigText, readConfigFile } from './config-file.js';
import { readEnv } from './env.js';
import { runStart } from './start.js';
import { openRedisAuthView, openSql } from './stores.js';
import { VERSION } from './version.js';

const HELP = `tollgate ${VERSION}: API management platform

Usage:
  tollgate start [--config FILE] [--roles admin,backend,gateway,worker] [--data-dir DIR]
                 [--admin-port N] [--backend-port N] [--gateway-port N]
  tollgate apply -f FILE [--dry-run] [--data-dir DIR]     apply a declarative config (YAML or JSON; - = stdin)
  tollgate apply -f FILE --server URL --token T [--dry-run]   ... through the admin API of a running server
  tollgate export [--format yaml|json] [--tenant NAME]... [--data-dir DIR]
  tollgate version
  tollgate RESOURCE VERB ...   services, plans, accounts, applications, keys, tokens over the admin API
                               ("tollgate help resources" lists them)

Environment: DATABASE_URL (postgres://…), REDIS_URL (redis://…), TOLLGATE_DATA_DIR, TOLLGATE_HOST,
TOLLGATE_ADMIN_PORT, TOLLGATE_BACKEND_PORT, TOLLGATE_GATEWAY_PORT, TOLLGATE_REDIS_PREFIX, LOG_LEVEL;
TOLLGATE_URL and TOLLGATE_TOKEN for the commands that talk to a running server.
See docs/operations.md.
`;

function printChanges(
  changes: readonly { action: string; kind: string; name: string }[],
  dryRun: boolean,
): void {
  const verb = dryRun ? 'would apply' : 'applied';
  if (changes.length === 0) process.stdout.write('no changes\n');
  for (const c of changes) process.stdout.write(`${verb}: ${c.action} ${c.kind} ${c.name}\n`);
  if (changes.length > 0) process.stdout.write(`${changes.length} change(s)\n`);
}

/** `apply --server`: through the admin API of a running deployment (PUT /admin/api/config). */
async function runApplyRemote(args: ApplyArgs, server: string, token: string | undefined): Promise<number> {
  if (!token) throw new UsageError('apply --server needs a token: --token or TOLLGATE_TOKEN');
  const doc = await readConfigFile(args.file);
  try {
    const res = (await createClient(server, token).call(
      'PUT',
      `/config${args.dryRun ? '?dry_run=true' : ''}`,
      doc,
    )) as {
      changes: { action: string; kind: string; name: string }[];
    };
    printChanges(res.changes, args.dryRun);
    return 0;
  } catch (err) {
    if (err instanceof ApiError) {
      process.stderr.write(`tollgate: ${args.file} was not applied: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function runApply(args: ApplyArgs): Promise<number> {
  const env = readEnv();
  const server = args.server ?? env.TOLLGATE_URL;
  if (server) return runApplyRemote(args, server, args.token ?? env.TOLLGATE_TOKEN);
  const sql = await openSql(env, args.dataDir ?? env.TOLLGATE_DATA_DIR ?? './data', { checkpointMs: 0 });
  const authView = args.dryRun ? null : await openRedisAuthView(env);
  try {
    const result = await applyConfigFile(sql.db, args.file, { dryRun: args.dryRun, authView });
    printChanges(result.changes, args.dryRun);
    return 0;
  } finally {
    await authView?.close();
    await sql.close();
  }
}

async function runExport(args: ExportArgs): Promise<number> {
  const env = readEnv();
  const sql = await openSql(env, args.dataDir ?? env.TOLLGATE_DATA_DIR ?? './data', { checkpointMs: 0 });
  try {
    process.stdout.write(await exportConfigText(sql.db, args.format, args.tenants));
    return 0;
  } finally {
    await sql.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'start':
        return await runStart(parseStartArgs(rest), readEnv());
      case 'apply':
        return await runApply(parseApplyArgs(rest));
      case 'export':
        return await runExport(parseExportArgs(rest));
      case 'version':
      case '--version':
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case 'help':
        if (rest[0] === 'resources') {
          process.stdout.write(resourceHelp());
          return 0;
        }
        process.stdout.write(HELP);
        return 0;
      case undefined:
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        if (RESOURCES.includes(cmd)) return await runResourceCommand(argv, readEnv());
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tollgate: ${err.message}\nRun "tollgate help" for usage.\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
