/**
 * Usage recording off the response path: one usage event per forwarded request (service, app, metric
 * deltas, status, latency, bytes, timestamp), queued and written to the usage log in batches.
 */
import type { UsageEventPayload, UsageEventRecorder } from '../backend/events.js';
import type { ForwardOutcome } from './proxy.js';

export interface GatewayUsageSink {
  /** Queues the event of one finished exchange; never blocks, never throws. */
  record(event: UsageEventPayload, outcome: ForwardOutcome, latencyMs: number): void;
  /** Writes everything queued. */
  flush(): Promise<void>;
}

export function createUsageSink(recorder: UsageEventRecorder): GatewayUsageSink {
  return {
    record(event, outcome, latencyMs) {
      recorder.record({
        ...event,
        source: 'gateway',
        status: outcome.status,
        latencyMs,
        upstreamMs: outcome.upstreamMs,
        bytesIn: outcome.bytesIn,
        bytesOut: outcome.bytesOut,
      });
    },
    flush: () => recorder.flush(),
  };
}
