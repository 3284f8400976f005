/**
 * Response coalescing: responses completed during one event-loop turn are ended together at the end of
 * that turn (setImmediate) instead of one by one as they complete. The writes then leave in a burst, so
 * a client with many connections is woken once for several answers instead of once per answer — on a
 * loaded server this costs far fewer context switches (measured in docs/benchmarks.md), and adds at most
 * the rest of the current turn to each response's latency.
 */
import type { ServerResponse } from 'node:http';

let responses: ServerResponse[] = [];
let bodies: (string | Buffer | undefined)[] = [];
let scheduled = false;

function flush(): void {
  const rs = responses;
  const bs = bodies;
  responses = [];
  bodies = [];
  scheduled = false;
  for (let i = 0; i < rs.length; i++) rs[i]!.end(bs[i]);
}

/** Ends `res` with `body` at the end of the current event-loop turn (headers must already be set). */
export function endCoalesced(res: ServerResponse, body: string | Buffer | undefined): void {
  responses.push(res);
  bodies.push(body);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
