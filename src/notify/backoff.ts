/** When a failed delivery is tried again: an exponential schedule with jitter, about 24 hours in all. */

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

/** Delay after the 1st, 2nd, … failed attempt (the last entry repeats): 12 attempts span ~23 h. */
export const DEFAULT_BACKOFF_MS: readonly number[] = [10 * S, 30 * S, 2 * MIN, 10 * MIN, 1 * H, 2 * H, 4 * H];
export const DEFAULT_MAX_ATTEMPTS = 12;

/**
 * The delay after failed attempt number `attempt` (1-based), spread by ±jitter/2 so endpoints that
 * failed together (an outage) are not hit again all at the same instant.
 */
export function retryDelay(
  attempt: number,
  schedule: readonly number[],
  jitter: number,
  random: () => number = Math.random,
): number {
  const base = schedule[Math.min(Math.max(attempt, 1), schedule.length) - 1] ?? 0;
  return Math.max(0, Math.round(base * (1 - jitter / 2 + random() * jitter)));
}
