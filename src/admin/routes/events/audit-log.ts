/** The audit log: every change, newest first, filtered and paged by seq; and a streamed NDJSON/CSV export. */
import { Readable } from 'node:stream';
import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import type { DB } from '../../../store/sql/schema.js';
import type { AuditLogTable } from '../../../store/sql/schema-admin.js';
import { requireTenant } from '../../auth.js';
import { AdminError } from '../../errors.js';
import { decodeCursor, PAGE_QUERY, page, pageSchema } from '../../http-conventions.js';
import type { AdminRoute } from '../../route.js';

const TAGS = ['audit log'];
const EXPORT_BATCH = 500;

const FILTERS = {
  object_type: { type: 'string', maxLength: 100 },
  object_id: { type: 'string', maxLength: 200 },
  action: { type: 'string', maxLength: 100 },
  actor_id: { type: 'string', maxLength: 200 },
  since: { type: 'string', format: 'date-time', description: 'Changes at or after this instant' },
  until: { type: 'string', format: 'date-time', description: 'Changes before this instant' },
} as const;

interface AuditFilters {
  object_type?: string;
  object_id?: string;
  action?: string;
  actor_id?: string;
  since?: string;
  until?: string;
}

const entrySchema = {
  type: 'object',
  required: ['seq', 'id', 'created_at', 'actor_type', 'actor_id', 'action', 'object_type', 'object_id'],
  properties: {
    seq: { type: 'integer' },
    id: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    actor_type: { type: 'string', enum: ['user', 'token'] },
    actor_id: { type: 'string' },
    action: { type: 'string' },
    object_type: { type: 'string' },
    object_id: { type: 'string' },
    before: {},
    after: {},
    request_id: { type: 'string' },
  },
} as const;

function entry(r: Selectable<AuditLogTable>) {
  return {
    seq: Number(r.seq),
    id: r.id,
    created_at: new Date(Number(r.created_at)).toISOString(),
    actor_type: r.actor_type,
    actor_id: r.actor_id,
    action: r.action,
    object_type: r.object_type,
    object_id: r.object_id,
    before: r.before === null ? null : (JSON.parse(r.before) as unknown),
    after: r.after === null ? null : (JSON.parse(r.after) as unknown),
    request_id: r.request_id,
  };
}

function instant(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new AdminError('invalid_request', `${name} is not a date-time`);
  return ms;
}

/** The filtered rows of one tenant, newest first, before seq `beforeSeq` (exclusive) when given. */
function query(db: Kysely<DB>, tenantId: string, f: AuditFilters, beforeSeq: number | null, limit: number) {
  const since = instant('since', f.since);
  const until = instant('until', f.until);
  return db
    .selectFrom('audit_log')
    .selectAll()
    .where((eb: ExpressionBuilder<DB, 'audit_log'>) => {
      const c = [eb('tenant_id', '=', tenantId)];
      if (f.object_type) c.push(eb('object_type', '=', f.object_type));
      if (f.object_id) c.push(eb('object_id', '=', f.object_id));
      if (f.action) c.push(eb('action', '=', f.action));
      if (f.actor_id) c.push(eb('actor_id', '=', f.actor_id));
      if (since !== undefined) c.push(eb('created_at', '>=', since));
      if (until !== undefined) c.push(eb('created_at', '<', until));
      if (beforeSeq !== null) c.push(eb('seq', '<', beforeSeq));
      return eb.and(c);
    })
    .orderBy('seq', 'desc')
    .limit(limit)
    .execute();
}

export const listAuditLog: AdminRoute = {
  method: 'GET',
  path: '/audit_log',
  operationId: 'listAuditLog',
  summary: "List the tenant's audit log, newest first (filters: object, action, actor, time range)",
  tags: TAGS,
  scope: 'management',
  write: false,
  query: { type: 'object', properties: { ...PAGE_QUERY, ...FILTERS }, additionalProperties: false },
  response: { status: 200, schema: pageSchema(entrySchema) },
  async handler(ctx, principal, req) {
    const tenantId = requireTenant(principal);
    const q = req.query as AuditFilters & { limit: number; cursor?: string };
    const cur = decodeCursor(q.cursor);
    if (cur !== null && !/^\d+$/.test(cur)) throw new AdminError('invalid_request', 'cursor is not valid');
    const rows = await query(ctx.db, tenantId, q, cur === null ? null : Number(cur), q.limit + 1);
    const p = page(rows, q.limit, (r) => String(Number(r.seq)));
    return { items: p.items.map(entry), next_cursor: p.next_cursor };
  },
};

const CSV_COLUMNS = [
  'seq',
  'id',
  'created_at',
  'actor_type',
  'actor_id',
  'action',
  'object_type',
  'object_id',
  'request_id',
  'before',
  'after',
] as const;

/** RFC 4180 field: quoted when it holds a quote, comma or line break. */
function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

async function* exportLines(db: Kysely<DB>, tenantId: string, f: AuditFilters, format: 'ndjson' | 'csv') {
  if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
  let beforeSeq: number | null = null;
  // Page by seq so memory stays bounded however long the log is.
  for (;;) {
    const rows = await query(db, tenantId, f, beforeSeq, EXPORT_BATCH);
    let chunk = '';
    for (const r of rows) {
      const e = entry(r);
      chunk +=
        format === 'ndjson'
          ? `${JSON.stringify(e)}\n`
          : `${CSV_COLUMNS.map((c) => csvField(e[c])).join(',')}\r\n`;
    }
    if (chunk !== '') yield chunk;
    if (rows.length < EXPORT_BATCH) return;
    beforeSeq = Number(rows[rows.length - 1]!.seq);
  }
}

export const exportAuditLog: AdminRoute = {
  method: 'GET',
  path: '/audit_log/export',
  operationId: 'exportAuditLog',
  summary: 'Stream the filtered audit log, newest first, as NDJSON or CSV',
  tags: TAGS,
  scope: 'management',
  write: false,
  query: {
    type: 'object',
    properties: { format: { type: 'string', enum: ['ndjson', 'csv'], default: 'ndjson' }, ...FILTERS },
    additionalProperties: false,
  },
  response: { status: 200 },
  async handler(ctx, principal, req, reply) {
    const tenantId = requireTenant(principal);
    const q = req.query as AuditFilters & { format: 'ndjson' | 'csv' };
    // Bad filters fail here, as a 400, not halfway through the stream.
    instant('since', q.since);
    instant('until', q.until);
    reply
      .type(q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="audit-log.${q.format}"`);
    return Readable.from(exportLines(ctx.db, tenantId, q, q.format));
  },
};

export const AUDIT_LOG_ROUTES: readonly AdminRoute[] = [listAuditLog, exportAuditLog];
