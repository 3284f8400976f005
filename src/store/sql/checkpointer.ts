/**
 * WAL checkpoints of the SQLite file on a thread of their own.
 *
 * In WAL mode with `synchronous = NORMAL` a commit only appends to the write-ahead log; the fsyncs
 * happen when the log is copied back into the database file (a checkpoint). By default SQLite runs that
 * checkpoint inside whichever commit crosses 1000 log pages, so now and then a commit on the event loop
 * (a usage-log batch, a counter snapshot) blocks it for the length of two fsyncs — measured at 11 ms
 * here, while the gateway was serving. The checkpointer moves that work to a worker thread with its own
 * connection, which runs `PRAGMA wal_checkpoint(PASSIVE)` every `everyMs`: passive checkpoints never
 * wait for readers or block writers, so the event loop's commits stay appends. The owner turns its own
 * connection's automatic checkpoints off only once the thread runs, and back on if the thread is lost.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** One checkpoint's answer: frames in the log, and how many of them are now in the database file. */
export interface CheckpointResult {
  readonly busy: number;
  readonly log: number;
  readonly checkpointed: number;
}

export interface CheckpointerOptions {
  /** Between two checkpoints (default 1000 ms). */
  readonly everyMs?: number;
  /** Called once when the thread stops without being asked to (its error, if any). */
  readonly onLost?: (err: Error) => void;
}

// The thread's code, run as a CommonJS script (eval), so that it needs no file of its own next to the
// compiled module (tests run the TypeScript sources). `driver` is better-sqlite3's resolved path.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 100');
const step = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ type: 'checkpoint', busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ type: 'failed', message: String(err && err.message || err) });
  }
};
const timer = setInterval(step, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.close();
});
parentPort.postMessage({ type: 'ready' });
`;

export class WalCheckpointer {
  private stopping = false;
  private lastResult: CheckpointResult | undefined;
  private runs = 0;
  private failures = 0;

  private constructor(
    private readonly worker: Worker,
    private readonly onLost: ((err: Error) => void) | undefined,
  ) {}

  /** Starts the thread on `file` (which must exist, in WAL mode); resolves once it has opened it. */
  static start(file: string, opts: CheckpointerOptions = {}): Promise<WalCheckpointer> {
    const everyMs = opts.everyMs ?? 1000;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(THREAD, { eval: true, workerData: { file, everyMs, driver } });
    const cp = new WalCheckpointer(worker, opts.onLost);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: { type: string } & Partial<CheckpointResult> & { message?: string }) => {
        if (m.type === 'ready') {
          ready = true;
          worker.unref(); // the store's close() stops it; it never keeps a process alive on its own
          resolve(cp);
        } else if (m.type === 'checkpoint') {
          cp.runs++;
          cp.lastResult = { busy: m.busy ?? 0, log: m.log ?? 0, checkpointed: m.checkpointed ?? 0 };
        } else if (m.type === 'failed') cp.failures++;
      });
      const lost = (err: Error) => {
        if (!ready) reject(new Error(`WAL checkpoint thread did not start on ${file}: ${err.message}`));
        else if (!cp.stopping) {
          cp.stopping = true;
          cp.onLost?.(err);
        }
      };
      worker.on('error', lost);
      worker.on('exit', (code) => lost(new Error(`WAL checkpoint thread exited with code ${code}`)));
    });
  }

  /** Checkpoints run so far, failed ones, and the last one's answer (for tests and diagnostics). */
  stats(): { runs: number; failures: number; last: CheckpointResult | undefined } {
    return { runs: this.runs, failures: this.failures, last: this.lastResult };
  }

  /** Runs a last checkpoint, closes the thread's connection and waits for the thread to end. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref(); // an unref'd thread would let the process end here, before close() returns
    this.worker.postMessage('stop');
    await exited;
  }
}
