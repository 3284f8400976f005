/**
 * Referrer filters (3scale §2.2 Referrer validator): a pattern matches literally except `*`, which matches
 * any run of characters; anchored at both ends (legacy mode: anywhere in the referrer). No RegExp is built
 * per request: patterns are matched by a small glob matcher.
 */

/** True when `text` matches the glob `pattern` (`*` = any run), anchored unless `unanchored`. */
export function globMatch(pattern: string, text: string, unanchored = false): boolean {
  // Legacy filters behave as if wrapped in `*…*`.
  const p = unanchored ? `*${pattern}*` : pattern;
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < text.length) {
    if (pi < p.length && p.charCodeAt(pi) !== 42 && p.charCodeAt(pi) === text.charCodeAt(ti)) {
      pi++;
      ti++;
    } else if (pi < p.length && p.charCodeAt(pi) === 42) {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p.charCodeAt(pi) === 42) pi++;
  return pi === p.length;
}

/** Outcome of the referrer check: `missing` and `not_allowed` give different messages. */
export type ReferrerOutcome = 'ok' | 'missing' | 'not_allowed';

/**
 * The Referrer validator: only applies when the service requires filters and the app has some. The
 * literal referrer `*` bypasses the check.
 */
export function checkReferrer(
  required: boolean,
  filters: readonly string[],
  referrer: string | undefined,
  legacy = false,
): ReferrerOutcome {
  if (!required || filters.length === 0) return 'ok';
  if (referrer === undefined || referrer === '') return 'missing';
  if (referrer === '*') return 'ok';
  for (const f of filters) if (globMatch(f, referrer, legacy)) return 'ok';
  return 'not_allowed';
}
