/** The webhook event: what a change becomes on the wire, and which endpoints subscribe to it. */
import { randomUUID } from 'node:crypto';
import type { ChangeRecord } from '../admin/route.js';

/** The JSON body of every webhook delivery. */
export interface WebhookEvent {
  readonly id: string;
  /** The change's action, e.g. `application.suspended`; `webhook.test` for a test event. */
  readonly type: string;
  readonly created_at: string;
  readonly tenant_id: string;
  readonly data: {
    readonly object_type: string;
    readonly object_id: string;
    /** The object after the change (before it, for a deletion). */
    readonly object: unknown;
    /** The object before the change, when there was one. */
    readonly previous?: unknown;
  };
}

/** Event types an endpoint may name: `<object>.<verb>`, `<object>.*`, or `*`. */
export const EVENT_PATTERN = '^(\\*|[a-z][a-z0-9_]*\\.(\\*|[a-z][a-z0-9_]*))$';

/** The event a committed change announces. */
export function eventOfChange(tenantId: string, change: ChangeRecord, at: number): WebhookEvent {
  const before = change.before ?? null;
  const after = change.after ?? null;
  return {
    id: randomUUID(),
    type: change.action,
    created_at: new Date(at).toISOString(),
    tenant_id: tenantId,
    data: {
      object_type: change.objectType,
      object_id: change.objectId,
      object: after ?? before,
      ...(before !== null ? { previous: before } : {}),
    },
  };
}

/** Whether an endpoint subscribed to `events` receives an event of `type`. */
export function subscribes(events: readonly string[], type: string): boolean {
  const dot = type.indexOf('.');
  const prefix = dot > 0 ? `${type.slice(0, dot)}.*` : undefined;
  return events.some((e) => e === '*' || e === type || e === prefix);
}
