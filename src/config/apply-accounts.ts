/**
 * Apply, the accounts half: accounts by name, and applications matched to stored ones by app_id, else
 * user_key (within the service), else account and name. Unmatched stored apps are deleted first, so
 * their credentials are free for the apps the file creates.
 */
import type { Kysely } from 'kysely';
import { type DeveloperExtras, loadDeveloperExtras } from '../store/sql/repo/developers.js';
import { newAppId, newId } from '../store/sql/repo/ids.js';
import type { ApplicationRecord } from '../store/sql/repo/records.js';
import type { TenantState } from '../store/sql/repo/state.js';
import type { DB } from '../store/sql/schema.js';
import type { Deferred, ServiceIndex } from './apply-services.js';
import { type ChangeLog, changedFields } from './changes.js';
import type { DesiredAccount, DesiredApp, DesiredTenant } from './resolve.js';

type Db = Kysely<DB>;

/** Creates and updates accounts and their apps; account deletions are deferred to the end. */
export async function applyAccounts(
  db: Db,
  tenantId: string,
  t: DesiredTenant,
  services: ServiceIndex,
  state: TenantState | null,
  log: ChangeLog,
  deferred: Deferred,
): Promise<void> {
  const have = new Map((state?.accounts ?? []).map((a) => [a.name, a]));
  // Account state and app description (migration 005) are not in TenantState: read them here.
  const extras = state ? await loadDeveloperExtras(db, tenantId) : null;
  const accountIds = new Map<string, string>();
  for (const [pos, d] of t.accounts.entries()) {
    const ex = have.get(d.name);
    const name = `${t.name}/accounts/${d.name}`;
    if (!ex) {
      const id = newId();
      await db
        .insertInto('accounts')
        .values({ id, tenant_id: tenantId, name: d.name, email: d.email, state: d.state, position: pos })
        .execute();
      accountIds.set(d.name, id);
      log.add({ action: 'create', kind: 'account', name });
      continue;
    }
    accountIds.set(d.name, ex.id);
    const fields = changedFields({
      email: [d.email, ex.email],
      state: [d.state, extras?.accountStates.get(ex.id) ?? 'approved'],
      position: [pos, ex.position],
    });
    if (fields.length === 0) continue;
    await db
      .updateTable('accounts')
      .set({ email: d.email, state: d.state, position: pos })
      .where('id', '=', ex.id)
      .execute();
    log.add({ action: 'update', kind: 'account', name, fields });
  }
  await applyApps(db, tenantId, t, services, accountIds, state, log, extras);
  for (const a of have.values()) {
    if (accountIds.has(a.name)) continue;
    deferred.push(async () => {
      await db.deleteFrom('accounts').where('id', '=', a.id).execute();
      log.add({ action: 'delete', kind: 'account', name: `${t.name}/accounts/${a.name}` });
    });
  }
}

interface Placed {
  readonly account: DesiredAccount;
  readonly app: DesiredApp;
  readonly pos: number;
  readonly serviceId: string;
}

/**
 * Matches the file's applications to stored ones (by app_id, else user_key, within the service; else by
 * account and name), then deletes the unmatched, updates the matched and creates the rest.
 */
async function applyApps(
  db: Db,
  tenantId: string,
  t: DesiredTenant,
  services: ServiceIndex,
  accountIds: Map<string, string>,
  state: TenantState | null,
  log: ChangeLog,
  extras: DeveloperExtras | null,
): Promise<void> {
  const liveServices = new Set([...services.values()].map((s) => s.id));
  // Apps of a deleted service went with it (cascade): they cannot be matched any more.
  const pool = (state?.applications ?? []).filter((a) => liveServices.has(a.serviceId));
  const accountName = new Map((state?.accounts ?? []).map((a) => [a.id, a.name]));
  const placed: Placed[] = t.accounts.flatMap((account) =>
    account.apps.map((app, pos) => ({ account, app, pos, serviceId: services.get(app.service)!.id })),
  );
  const match = new Map<Placed, ApplicationRecord>();
  const claimed = new Set<string>();
  const pass = (test: (p: Placed, a: ApplicationRecord) => boolean) => {
    for (const p of placed) {
      if (match.has(p)) continue;
      const hit = pool.find((a) => !claimed.has(a.id) && test(p, a));
      if (hit) {
        match.set(p, hit);
        claimed.add(hit.id);
      }
    }
  };
  pass((p, a) => p.app.appId !== undefined && a.serviceId === p.serviceId && a.appId === p.app.appId);
  pass((p, a) => p.app.userKey !== null && a.serviceId === p.serviceId && a.userKey === p.app.userKey);
  pass((p, a) => accountName.get(a.accountId) === p.account.name && a.name === p.app.name);

  const path = (p: Placed) => `${t.name}/accounts/${p.account.name}/applications/${p.app.name}`;
  for (const a of pool) {
    if (claimed.has(a.id)) continue;
    await db.deleteFrom('applications').where('id', '=', a.id).execute();
    log.add({
      action: 'delete',
      kind: 'application',
      name: `${t.name}/accounts/${accountName.get(a.accountId)}/applications/${a.name}`,
    });
  }
  const updates: { p: Placed; ex: ApplicationRecord; fields: string[] }[] = [];
  for (const [p, ex] of match) {
    const fields = appDiff(p, ex, services, accountIds, extras?.appDescriptions.get(ex.id) ?? null);
    if (fields.length > 0) updates.push({ p, ex, fields });
  }
  // Two steps for changed credentials, so that two apps may swap user_keys or app_ids in one apply
  // without tripping the (service, user_key) and (service, app_id) unique constraints midway.
  for (const { ex, fields } of updates) {
    if (fields.includes('user_key') || fields.includes('app_id') || fields.includes('service'))
      await db
        .updateTable('applications')
        .set({ user_key: null, app_id: `~${ex.id}` })
        .where('id', '=', ex.id)
        .execute();
  }
  for (const { p, ex, fields } of updates) {
    await writeApp(db, ex.id, p, ex.appId, services, accountIds, ex);
    log.add({ action: 'update', kind: 'application', name: path(p), fields });
  }
  for (const p of placed) {
    if (match.has(p)) continue;
    const id = newId();
    await db
      .insertInto('applications')
      .values({ id, tenant_id: tenantId, ...appRow(p, p.app.appId ?? newAppId(), services, accountIds) })
      .execute();
    await writeLists(db, id, p.app, null);
    log.add({ action: 'create', kind: 'application', name: path(p) });
  }
}

function appRow(p: Placed, appId: string, services: ServiceIndex, accountIds: Map<string, string>) {
  const svc = services.get(p.app.service)!;
  return {
    account_id: accountIds.get(p.account.name)!,
    service_id: svc.id,
    plan_id: svc.plans.get(p.app.plan)!,
    app_id: appId,
    name: p.app.name,
    state: p.app.state,
    user_key: p.app.userKey,
    redirect_url: p.app.redirectUrl,
    description: p.app.description,
    position: p.pos,
  };
}

function appDiff(
  p: Placed,
  ex: ApplicationRecord,
  services: ServiceIndex,
  accountIds: Map<string, string>,
  description: string | null,
): string[] {
  const want = appRow(p, p.app.appId ?? ex.appId, services, accountIds);
  return changedFields({
    account: [want.account_id, ex.accountId],
    service: [want.service_id, ex.serviceId],
    plan: [want.plan_id, ex.planId],
    app_id: [want.app_id, ex.appId],
    name: [want.name, ex.name],
    state: [want.state, ex.state],
    user_key: [want.user_key, ex.userKey],
    redirect_url: [want.redirect_url, ex.redirectUrl],
    description: [want.description, description],
    position: [want.position, ex.position],
    app_keys: [p.app.appKeys, ex.appKeys],
    referrer_filters: [p.app.referrerFilters, ex.referrerFilters],
  });
}

async function writeApp(
  db: Db,
  id: string,
  p: Placed,
  currentAppId: string,
  services: ServiceIndex,
  accountIds: Map<string, string>,
  ex: ApplicationRecord,
): Promise<void> {
  await db
    .updateTable('applications')
    .set(appRow(p, p.app.appId ?? currentAppId, services, accountIds))
    .where('id', '=', id)
    .execute();
  await writeLists(db, id, p.app, ex);
}

/** Rewrites an app's keys and referrer filters when they differ (they are small ordered lists). */
async function writeLists(db: Db, id: string, app: DesiredApp, ex: ApplicationRecord | null): Promise<void> {
  const lists = [
    ['app_keys', app.appKeys, ex?.appKeys ?? []],
    ['referrer_filters', app.referrerFilters, ex?.referrerFilters ?? []],
  ] as const;
  for (const [table, want, have] of lists) {
    if (JSON.stringify(want) === JSON.stringify(have)) continue;
    await db.deleteFrom(table).where('application_id', '=', id).execute();
    if (want.length > 0)
      await db
        .insertInto(table)
        .values(want.map((value, position) => ({ application_id: id, value, position })))
        .execute();
  }
}
