/** The typed dependencies of the backend: the ports it reads and writes, a clock and its version. */
import type { AuthView, CounterStore, ErrorLog, UsageLog } from '../store/ports.js';

/** What the backend's HTTP face, authorization core and report worker need; built by the composition root. */
export interface BackendDeps {
  readonly authView: AuthView;
  readonly counters: CounterStore;
  readonly usageLog: UsageLog;
  readonly errorLog: ErrorLog;
  /** Epoch milliseconds; tests pass a fake clock. */
  readonly clock: () => number;
  /** Reported by `GET /status` as `version.backend`. */
  readonly version: string;
}
