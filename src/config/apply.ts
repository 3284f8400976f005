/**
 * Apply: makes every tenant named in a config file match it exactly, in one transaction. Tenants the
 * file does not name are untouched. Applying the same file again changes nothing (not even
 * config_version, which moves only when something under the tenant changed).
 */
import type { Kysely } from 'kysely';
import { routeKey } from '../gateway/router.js';
import { newId } from '../store/sql/repo/ids.js';
import { loadTenantState, type TenantState } from '../store/sql/repo/state.js';
import type { DB } from '../store/sql/schema.js';
import { applyAccounts } from './apply-accounts.js';
import { applyServices, type Deferred } from './apply-services.js';
import { type Change, ChangeLog, changedFields } from './changes.js';
import { type ConfigFault, ConfigValidationError } from './faults.js';
import { type DesiredTenant, resolveTenant } from './resolve.js';
import type { ConfigDoc } from './schema.js';
import { validateConfig } from './validate.js';

type Db = Kysely<DB>;

export interface ApplyOptions {
  /** Work out the changes, then roll everything back. */
  readonly dryRun?: boolean;
  /** Clock for timestamps (epoch ms). */
  readonly now?: () => number;
}

export interface ApplyResult {
  readonly changes: Change[];
  /** Ids of the tenants that changed (to re-project into the auth view). */
  readonly tenantIds: string[];
}

class DryRun extends Error {
  constructor(readonly result: ApplyResult) {
    super('dry run');
  }
}

/**
 * Applies a document: a parsed YAML/JSON value (validated here) or an already validated ConfigDoc.
 * Throws ConfigValidationError (nothing applied) when the document or its fit with the database is wrong.
 */
export async function applyConfig(db: Db, input: unknown, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const v = validateConfig(input);
  if (!v.ok) throw new ConfigValidationError(v.faults);
  const desired = v.doc.tenants.map(resolveTenant);
  const now = opts.now ?? Date.now;
  try {
    return await db.transaction().execute(async (trx) => {
      const faults = await conflicts(trx, v.doc, desired);
      if (faults.length > 0) throw new ConfigValidationError(faults);
      const log = new ChangeLog();
      const tenantIds: string[] = [];
      for (const t of desired) {
        const id = await applyTenant(trx, t, log, now());
        if (id !== null) tenantIds.push(id);
      }
      const result = { changes: log.changes, tenantIds };
      if (opts.dryRun) throw new DryRun(result);
      return result;
    });
  } catch (err) {
    if (err instanceof DryRun) return err.result;
    throw err;
  }
}

/**
 * Host + path prefix pairs the file gives its services that a tenant outside the file already serves
 * (inside the file, checks.ts finds them). A clash would leave gateways unable to route either service.
 */
async function routeClashes(db: Db, doc: ConfigDoc, nameOf: Map<string, string>): Promise<ConfigFault[]> {
  const inFile = new Set(doc.tenants.map((t) => t.name));
  const held = new Map<string, string>();
  const rows = await db
    .selectFrom('services')
    .select(['tenant_id', 'system_name', 'hosts', 'gateway'])
    .execute();
  for (const r of rows) {
    const owner = nameOf.get(r.tenant_id);
    if (owner === undefined || inFile.has(owner)) continue;
    const prefix = (JSON.parse(r.gateway) as { path_prefix?: string }).path_prefix;
    for (const h of JSON.parse(r.hosts) as string[])
      held.set(routeKey(h, prefix), `${owner}/services/${r.system_name}`);
  }
  const faults: ConfigFault[] = [];
  doc.tenants.forEach((t, ti) => {
    t.services.forEach((s, si) => {
      s.hosts.forEach((h, hi) => {
        const other = held.get(routeKey(h, s.path_prefix));
        if (other !== undefined)
          faults.push({
            path: `tenants[${ti}].services[${si}].hosts[${hi}]`,
            message: `host and path prefix already served by ${other}`,
          });
      });
    });
  });
  return faults;
}

/** Faults that only the database can reveal: secrets and ids held by tenants the file does not own. */
async function conflicts(db: Db, doc: ConfigDoc, desired: DesiredTenant[]): Promise<ConfigFault[]> {
  const faults: ConfigFault[] = [];
  const names = desired.map((t) => t.name);
  const tenants = await db.selectFrom('tenants').select(['id', 'name', 'provider_key']).execute();
  const nameOf = new Map(tenants.map((t) => [t.id, t.name]));
  faults.push(...(await routeClashes(db, doc, nameOf)));
  for (const [i, t] of desired.entries()) {
    const holder = tenants.find((x) => x.provider_key === t.providerKey && x.name !== t.name);
    if (holder && !names.includes(holder.name))
      faults.push({ path: `tenants[${i}].provider_key`, message: `already used by tenant "${holder.name}"` });
    const ids = t.services.flatMap((s) => (s.id === undefined ? [] : [s.id]));
    if (ids.length > 0) {
      const taken = await db
        .selectFrom('services')
        .select(['id', 'tenant_id'])
        .where('id', 'in', ids)
        .execute();
      for (const s of taken) {
        const owner = nameOf.get(s.tenant_id);
        if (owner === t.name) continue;
        const si = doc.tenants[i]!.services.findIndex((x) => x.id === s.id);
        faults.push({
          path: `tenants[${i}].services[${si}].id`,
          message: `service id already used by tenant "${owner}"`,
        });
      }
    }
    const hashes = t.adminTokens.map((a) => a.tokenHash);
    if (hashes.length > 0) {
      const held = await db
        .selectFrom('admin_tokens')
        .select(['token_hash', 'tenant_id'])
        .where('token_hash', 'in', hashes)
        .execute();
      for (const h of held) {
        const owner = h.tenant_id === null ? null : nameOf.get(h.tenant_id);
        if (owner === t.name) continue;
        const ai = t.adminTokens.findIndex((a) => a.tokenHash === h.token_hash);
        const field = doc.tenants[i]!.admin_tokens[ai]!.value !== undefined ? 'value' : 'hash';
        faults.push({
          path: `tenants[${i}].admin_tokens[${ai}].${field}`,
          message:
            owner === null
              ? 'the same token as a platform token'
              : `the same token as one of tenant "${owner}"`,
        });
      }
    }
  }
  return faults;
}

/** Applies one tenant; returns its id when anything under it changed. */
async function applyTenant(db: Db, t: DesiredTenant, log: ChangeLog, now: number): Promise<string | null> {
  log.reset();
  const row = await db
    .selectFrom('tenants')
    .select(['id', 'provider_key'])
    .where('name', '=', t.name)
    .executeTakeFirst();
  let state: TenantState | null = null;
  let tenantId: string;
  if (!row) {
    tenantId = newId();
    await db
      .insertInto('tenants')
      .values({
        id: tenantId,
        name: t.name,
        provider_key: t.providerKey,
        config_version: 1,
        created_at: now,
        updated_at: now,
      })
      .execute();
    log.add({ action: 'create', kind: 'tenant', name: t.name });
  } else {
    tenantId = row.id;
    state = await loadTenantState(db, tenantId);
    if (row.provider_key !== t.providerKey) {
      await db
        .updateTable('tenants')
        .set({ provider_key: t.providerKey })
        .where('id', '=', tenantId)
        .execute();
      log.add({ action: 'update', kind: 'tenant', name: t.name, fields: ['provider_key'] });
    }
  }
  await applyAdminTokens(db, tenantId, t, state, log, now);
  const deferred: Deferred = [];
  const services = await applyServices(db, tenantId, t.name, t.services, state, log, deferred);
  await applyAccounts(db, tenantId, t, services, state, log, deferred);
  for (const run of deferred) await run();
  if (!log.dirty) return null;
  if (row) {
    await db
      .updateTable('tenants')
      .set((eb) => ({ config_version: eb('config_version', '+', 1), updated_at: now }))
      .where('id', '=', tenantId)
      .execute();
  }
  return tenantId;
}

async function applyAdminTokens(
  db: Db,
  tenantId: string,
  t: DesiredTenant,
  state: TenantState | null,
  log: ChangeLog,
  now: number,
): Promise<void> {
  const have = new Map((state?.adminTokens ?? []).map((a) => [a.name, a]));
  const want = new Set(t.adminTokens.map((a) => a.name));
  // Deletions first: a token renamed in the file keeps its digest, which must be free again.
  for (const a of have.values()) {
    if (want.has(a.name)) continue;
    await db.deleteFrom('admin_tokens').where('id', '=', a.id).execute();
    log.add({ action: 'delete', kind: 'admin_token', name: `${t.name}/admin_tokens/${a.name}` });
  }
  for (const [pos, d] of t.adminTokens.entries()) {
    const row = {
      token_hash: d.tokenHash,
      scopes: JSON.stringify(d.scopes),
      read_only: d.readOnly ? 1 : 0,
      expires_at: d.expiresAt,
      position: pos,
    };
    const name = `${t.name}/admin_tokens/${d.name}`;
    const ex = have.get(d.name);
    if (!ex) {
      await db
        .insertInto('admin_tokens')
        .values({ id: newId(), tenant_id: tenantId, name: d.name, created_at: now, ...row })
        .execute();
      log.add({ action: 'create', kind: 'admin_token', name });
      continue;
    }
    const fields = changedFields({
      value: [d.tokenHash, ex.tokenHash],
      scopes: [d.scopes, ex.scopes],
      read_only: [d.readOnly, ex.readOnly],
      expires_at: [d.expiresAt, ex.expiresAt],
      position: [pos, ex.position],
    });
    if (fields.length === 0) continue;
    await db.updateTable('admin_tokens').set(row).where('id', '=', ex.id).execute();
    log.add({ action: 'update', kind: 'admin_token', name, fields });
  }
}
