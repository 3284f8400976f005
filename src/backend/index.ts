/** The backend part's function API for the composition root: the HTTP handler and the report worker. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { BackendDeps } from './deps.js';
import { type BackendHandler, createBackendHandler } from './http.js';
import { type ReportWorker, startReportWorker } from './report-worker.js';

export type { BackendDeps } from './deps.js';
export { type BackendHandler, type BackendHandlerOptions, createBackendHandler } from './http.js';
export {
  processReportBatch,
  type ReportWorker,
  runReportWorkerOnce,
  startReportWorker,
} from './report-worker.js';

/** Minimal logger shape (pino's) the backend writes faults to. */
interface FaultLogger {
  error(obj: object, msg?: string): void;
}

/** Options of `createBackend`: the deps plus optional observability. */
export interface BackendOptions extends BackendDeps {
  readonly registry?: Registry;
  readonly logger?: FaultLogger;
  /** Gets requests for paths the backend does not serve; returns true if it answered. */
  readonly fallback?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** The backend of one process: its request listener, its report workers, and a close that flushes. */
export interface Backend {
  readonly handler: BackendHandler;
  /** Starts a report worker loop consuming `reports` as `consumer` (group `counters`). */
  startWorker(consumer: string): ReportWorker;
  /** Stops the workers and flushes the recorders. */
  close(): Promise<void>;
}

/** Builds the backend over its deps. */
export function createBackend(opts: BackendOptions): Backend {
  const storeErrors = opts.registry
    ? new Counter({
        name: 'tollgate_backend_store_errors_total',
        help: 'Service Management API requests answered 503 because a store failed',
        registers: [opts.registry],
      })
    : null;
  const handler = createBackendHandler(opts, {
    ...(opts.fallback ? { fallback: opts.fallback } : {}),
    onStoreError: (err) => {
      storeErrors?.inc();
      opts.logger?.error({ err }, 'backend store failure');
    },
  });
  if (opts.registry) {
    new Counter({
      name: 'tollgate_backend_events_dropped_total',
      help: 'Usage events and integration errors dropped by the backend recorders (queue full or store failure)',
      registers: [opts.registry],
      collect() {
        this.reset();
        this.inc(handler.events.dropped + handler.errors.dropped);
      },
    });
  }
  const workers: ReportWorker[] = [];
  return {
    handler,
    startWorker(consumer) {
      const w = startReportWorker(opts, {
        consumer,
        onError: (err) => opts.logger?.error({ err }, 'report worker failure'),
      });
      workers.push(w);
      return w;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await handler.close();
    },
  };
}
