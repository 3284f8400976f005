/** Runs one resource subcommand of `tollgate` against the admin API and prints its answer. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../args.js';
import type { Env } from '../env.js';
import { type ApiClient, ApiError, createClient } from './client.js';
import { COMMANDS, type CommandSpec } from './commands.js';
import { renderObject, renderTable } from './table.js';

export const RESOURCES = [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]!))];

/** Usage text of the resource subcommands. */
export function resourceHelp(): string {
  const lines = COMMANDS.map((c) => {
    const args = (c.args ?? []).map((a) => ` ${a.toUpperCase()}`).join('');
    const opts = Object.entries(c.options ?? {})
      .map(([k, o]) => (o.required ? ` --${k} X` : ` [--${k}${o.type === 'boolean' ? '' : ' X'}]`))
      .join('');
    return `  tollgate ${c.name}${args}${opts}\n      ${c.summary}`;
  });
  return `Resource commands (admin API at --server or TOLLGATE_URL, default http://127.0.0.1:3000,
with --token or TOLLGATE_TOKEN; --json prints the raw answer):\n${lines.join('\n')}\n`;
}

function fieldOf(name: string, field?: string): string {
  return field ?? name.replace(/-/g, '_');
}

function buildCall(spec: CommandSpec, positionals: string[], values: Record<string, unknown>) {
  const args = spec.args ?? [];
  if (positionals.length !== args.length) {
    throw new UsageError(
      `${spec.name} takes ${args.length === 0 ? 'no arguments' : args.map((a) => a.toUpperCase()).join(' ')}`,
    );
  }
  const subst: Record<string, string> = {};
  args.forEach((a, i) => {
    subst[a] = positionals[i]!;
  });
  const body: Record<string, unknown> = {};
  const query = new URLSearchParams();
  for (const [name, o] of Object.entries(spec.options ?? {})) {
    const raw = values[name];
    if (raw === undefined) {
      if (o.required) throw new UsageError(`${spec.name} needs --${name} (${o.help})`);
      continue;
    }
    let v: unknown = raw;
    if (o.type === 'number') {
      v = Number(raw);
      if (!Number.isFinite(v)) throw new UsageError(`--${name} must be a number`);
    } else if (o.type === 'list') {
      v = String(raw)
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    }
    subst[name] = String(raw);
    if (spec.query?.includes(name)) query.set(fieldOf(name, o.field), String(v));
    else if (!spec.path.includes(`{${name}}`)) body[fieldOf(name, o.field)] = v;
  }
  const path = spec.path.replace(/\{([a-z_-]+)\}/g, (_, k: string) => encodeURIComponent(subst[k] ?? ''));
  const qs = query.toString();
  const sendsBody = spec.method !== 'GET' && spec.method !== 'DELETE';
  return { path: qs ? `${path}?${qs}` : path, body: sendsBody ? body : undefined };
}

function print(spec: CommandSpec, answer: unknown, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return;
  }
  if (answer === null || answer === undefined) {
    process.stdout.write('done\n');
    return;
  }
  const obj = answer as Record<string, unknown>;
  if (Array.isArray(obj.items)) {
    const rows = obj.items as Record<string, unknown>[];
    const columns = spec.columns ?? Object.keys(rows[0] ?? {}).slice(0, 6);
    process.stdout.write(renderTable(rows, columns));
    if (typeof obj.next_cursor === 'string') process.stdout.write(`more: --cursor ${obj.next_cursor}\n`);
    return;
  }
  process.stdout.write(renderObject(obj));
}

/** Runs `tollgate RESOURCE VERB ...`; returns the exit code. */
export async function runResourceCommand(argv: string[], env: Env, client?: ApiClient): Promise<number> {
  const [resource, verb, ...rest] = argv;
  const spec = COMMANDS.find((c) => c.name === `${resource} ${verb ?? ''}`);
  if (!spec) {
    const verbs = COMMANDS.filter((c) => c.name.startsWith(`${resource} `)).map((c) => c.name.split(' ')[1]);
    throw new UsageError(
      `unknown command "${`${resource} ${verb ?? ''}`.trim()}"; ${resource} takes: ${verbs.join(', ')}`,
    );
  }
  const options: NonNullable<ParseArgsConfig['options']> = {
    server: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean' },
  };
  for (const [name, o] of Object.entries(spec.options ?? {})) {
    options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const values = parsed.values as Record<string, unknown>;
  const call = buildCall(spec, parsed.positionals, values);
  const server = (values.server as string | undefined) ?? env.TOLLGATE_URL ?? 'http://127.0.0.1:3000';
  const token = (values.token as string | undefined) ?? env.TOLLGATE_TOKEN;
  if (!token && !client) throw new UsageError('an admin API token is needed: --token or TOLLGATE_TOKEN');
  const api = client ?? createClient(server, token as string);
  try {
    print(spec, await api.call(spec.method, call.path, call.body), values.json === true);
    return 0;
  } catch (err) {
    if (err instanceof ApiError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
