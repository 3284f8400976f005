/**
 * Synchronous-when-possible steps: the authorization core is written once, as a generator that yields
 * each store answer it needs; `drive` runs it to the end synchronously while answers are plain values
 * (in-process stores, cache hits) and continues asynchronously from the first one that is a promise.
 */

/** A computation yielding store answers (values or promises of them) and returning a T. */
export type Steps<T> = Generator<unknown, T, unknown>;

/** Runs `g`: its result when every yielded answer was a value, else a promise of it. Throws/rejects on faults. */
export function drive<T>(g: Steps<T>, input?: unknown): T | Promise<T> {
  let r = g.next(input);
  while (r.done !== true) {
    const v = r.value;
    if (v instanceof Promise) return v.then((x: unknown) => drive(g, x));
    r = g.next(v);
  }
  return r.value;
}

/** `drive`, always as a promise (for callers that await anyway). */
export async function driveAsync<T>(g: Steps<T>): Promise<T> {
  return drive(g);
}
