/**
 * `on_store_failure: allow` when no decision could be made: the call is forwarded unless what this
 * process still remembers (the auth view cache, read without I/O) already says the credentials are
 * bad; its usage event is built from the same memory when it can be, so analytics still sees the call.
 */
import type { UsageEventPayload } from '../../backend/events.js';
import { usageEventOf } from '../../backend/events.js';
import { compileService } from '../../domain/compiled-service.js';
import { processUsage } from '../../domain/usage.js';
import { secretEquals } from '../../store/digest.js';
import type { AuthView } from '../../store/ports.js';
import type { AuthCall, Verdict } from './types.js';

const AUTH_FAILED: Verdict = Object.freeze({ ok: false, code: 'auth_failed' });
const ALLOW_BLIND: Verdict = Object.freeze({ ok: true, event: null });

/** The fail-open verdict of `call` (never touches a store). */
export function failOpen(call: AuthCall, view: AuthView, now: number): Verdict {
  const peek = view.peek;
  if (peek === undefined) return ALLOW_BLIND;
  const sid = call.svc.id;
  let appId: string | null | undefined;
  if (call.creds.kind === 'user_key') {
    appId = peek.appIdByUserKey(sid, call.creds.userKey);
    if (appId === null) return AUTH_FAILED; // remembered as unknown
  } else {
    appId = call.creds.appId;
  }
  if (appId === undefined) return ALLOW_BLIND;
  const app = peek.application(sid, appId);
  if (app === null) return AUTH_FAILED;
  if (app === undefined) return ALLOW_BLIND;
  if (app.state !== 'active') return AUTH_FAILED;
  if (call.creds.kind === 'app_id' && app.appKeys.length > 0) {
    const given = call.creds.appKey;
    let ok = false;
    if (given !== undefined) for (const k of app.appKeys) if (secretEquals(k, given)) ok = true;
    if (!ok) return AUTH_FAILED;
  }
  return { ok: true, event: eventOf(call, view, appId, now) };
}

function eventOf(call: AuthCall, view: AuthView, appId: string, now: number): UsageEventPayload | null {
  const svc = view.peek?.service(call.svc.id);
  const usage = call.usage;
  if (svc == null || usage === undefined || typeof usage !== 'object' || Array.isArray(usage)) return null;
  const parsed = processUsage(usage, compileService(svc), false);
  if (!parsed.ok) return null;
  return usageEventOf('authrep', call.svc.id, appId, parsed.usage, undefined, now);
}
