/**
 * The usage event of a call a remote 3scale backend admitted. The remote counts it; the gateway still
 * records it for its own analytics, built here from the mapped usage, rolled up the metric tree. The
 * application is the call's app_id; a user_key call's application is not known here, so the event names
 * it by the key's digest (`uk:` + its first 16 hex digits), never by the key.
 */
import type { UsageEventPayload } from '../../backend/events.js';
import { lookupDigest } from '../../store/digest.js';
import type { AuthCall } from './types.js';

export function remoteUsageEvent(call: AuthCall, now: number): UsageEventPayload {
  const svc = call.svc;
  const usage: Record<string, number> = {};
  for (const name in call.usage) {
    const delta = Number(call.usage[name]);
    let id = svc.metricIds.get(name);
    // Each metric and its ancestors (a cycle cannot reach here: the config refuses one).
    while (id !== undefined) {
      usage[id] = (usage[id] ?? 0) + delta;
      id = svc.metricParents.get(id);
    }
  }
  const c = call.creds;
  return {
    type: 'usage',
    source: 'authrep',
    serviceId: svc.id,
    appId: c.kind === 'app_id' ? c.appId : `uk:${lookupDigest(c.userKey).slice(0, 16)}`,
    timestamp: now,
    usage,
  };
}
