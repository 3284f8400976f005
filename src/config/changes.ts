/** What an apply did (or, in a dry run, would do): one entry per object created, updated or deleted. */

export type ChangeKind =
  | 'tenant'
  | 'admin_token'
  | 'service'
  | 'metric'
  | 'mapping_rule'
  | 'plan'
  | 'usage_limit'
  | 'pricing_rule'
  | 'account'
  | 'application';

/** One change. `name` is a path such as `acme/services/echo/plans/basic`; `fields` lists what an update changed. */
export interface Change {
  readonly action: 'create' | 'update' | 'delete';
  readonly kind: ChangeKind;
  readonly name: string;
  readonly fields?: readonly string[];
}

/** Collects the changes of one tenant and remembers whether there were any (to bump config_version). */
export class ChangeLog {
  readonly changes: Change[] = [];
  private count = 0;

  add(change: Change): void {
    this.changes.push(change);
    this.count++;
  }

  /** Starts counting afresh (per tenant); returns whether the previous tenant had changes. */
  reset(): boolean {
    const had = this.count > 0;
    this.count = 0;
    return had;
  }

  get dirty(): boolean {
    return this.count > 0;
  }
}

/** The names of the fields whose desired and current values differ (deep, order-sensitive). */
export function changedFields(pairs: Record<string, readonly [unknown, unknown]>): string[] {
  return Object.entries(pairs)
    .filter(([, [want, have]]) => JSON.stringify(want) !== JSON.stringify(have))
    .map(([k]) => k);
}
