/**
 * A lean Redis connection for the one hot command of the data plane: the counter script of every authrep
 * (and the MGET of every authorize). ioredis's general command path — command objects, argument
 * flattening and encoding, promise plumbing per command — costs ≈ 27–29 µs of CPU per EVALSHA; this lane
 * writes pre-encoded RESP2 frames on a plain socket and parses only the reply types it needs, for a
 * fraction of that (docs/benchmarks.md). Everything else keeps using ioredis.
 *
 * Guarantees: replies are matched to calls in order (pipelining, a FIFO of pending calls); every frame
 * of one event-loop turn leaves in one socket write; a call whose connection breaks is rejected, never
 * resent (a counter script must not run twice); NOSCRIPT is answered by re-running that call with EVAL
 * (which also caches the script on the server). The connection is opened on first use and re-opened by
 * the first call after a break, at most once per `retryDelayMs`: calls in between fail at once, so an
 * unreachable Redis surfaces as quick store faults rather than a growing queue. Keys get the lane's
 * prefix, like ioredis's `keyPrefix`.
 */
import net from 'node:net';
import type { Redis } from 'ioredis';

/** A script as the lane runs it (LuaScript in ./redis.ts fits). */
export interface LaneScript {
  readonly sha: string;
  readonly source: string;
}

/** An error reply of the server (its message as sent, e.g. `NOSCRIPT No matching script…`). */
export class RespReplyError extends Error {
  override readonly name = 'RespReplyError';
}

/**
 * A RESP2 reply: simple and bulk strings, integers, nil, arrays. A top-level error reply rejects the
 * call instead; an error inside an array stays in it as a RespReplyError.
 */
export type RespValue = string | number | null | RespReplyError | RespValue[];

export interface RespLaneOptions {
  readonly host?: string;
  readonly port?: number;
  /** A Unix socket path; replaces host and port. */
  readonly path?: string;
  readonly username?: string | null;
  readonly password?: string | null;
  readonly db?: number;
  /** Prepended to every key the lane sends (not to other arguments). */
  readonly keyPrefix?: string;
  /** How long a connection attempt may take (default 10 000 ms). */
  readonly connectTimeoutMs?: number;
  /** After a failed or broken connection, calls fail at once for this long before one reconnects (default 100 ms). */
  readonly retryDelayMs?: number;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  /** Turns the reply into the call's result (it may throw: the call rejects). */
  decode: ((v: RespValue) => unknown) | null;
  /** The frame to send instead when the server answers NOSCRIPT (EVAL with the source), once. */
  noscript: string | null;
}

const NEED_MORE = Symbol('need more');
type Parsed = RespValue | typeof NEED_MORE;

/** `$<bytes>\r\n<s>\r\n`. */
function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/** A whole command frame of plain arguments. */
export function encodeCommand(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += bulk(a);
  return out;
}

export class RespLane {
  private readonly prefix: string;
  private readonly connectTimeoutMs: number;
  private readonly retryDelayMs: number;
  /** `*` headers and encoded script heads, by script sha. */
  private readonly heads = new Map<string, { evalsha: string; eval: string }>();
  private socket: net.Socket | null = null;
  private ready = false;
  /** Frames of this turn not yet written. */
  private out = '';
  private flushScheduled = false;
  /** Pending calls in reply order: queue[head] is answered next. */
  private queue: Pending[] = [];
  private head = 0;
  /** Replies of the connection handshake (AUTH, SELECT) still expected before the calls' replies. */
  private handshakeLeft = 0;
  /** The start of an incomplete reply: its chunks, their length, and the length it needs at least. */
  private restChunks: Buffer[] = [];
  private restLen = 0;
  private restNeed = 0;
  /** Set by `parse` when it runs out of bytes: the offset in its buffer it needs to reach at least. */
  private need = 0;
  private lastFailureAt = Number.NEGATIVE_INFINITY;
  private lastFailure: Error | null = null;
  private closed = false;
  private drained: (() => void) | null = null;

  constructor(private readonly opts: RespLaneOptions) {
    this.prefix = opts.keyPrefix ?? '';
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.retryDelayMs = opts.retryDelayMs ?? 100;
  }

  /**
   * A lane to the server an ioredis client talks to, with its credentials, database and key prefix; null
   * when the client needs what the lane does not do (TLS, Sentinel, NAT maps).
   */
  static fromClient(client: Redis): RespLane | null {
    const o = client.options;
    if (o.tls !== undefined || (o.sentinels !== null && o.sentinels !== undefined) || o.natMap) return null;
    return new RespLane({
      host: o.host,
      port: o.port,
      ...(o.path !== undefined ? { path: o.path } : {}),
      username: o.username ?? null,
      password: o.password ?? null,
      db: o.db ?? 0,
      keyPrefix: o.keyPrefix ?? '',
      connectTimeoutMs: o.connectTimeout ?? 10_000,
    });
  }

  /** Calls waiting for a reply (written or about to be). */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /**
   * Runs `script` with EVALSHA on `keys` (prefixed) and `args`; on NOSCRIPT, once more with EVAL. The
   * reply goes through `decode` when given (saves the caller a promise of its own).
   */
  evalScript(script: LaneScript, keys: readonly string[], args: readonly string[]): Promise<RespValue>;
  evalScript<T>(
    script: LaneScript,
    keys: readonly string[],
    args: readonly string[],
    decode: (v: RespValue) => T,
  ): Promise<T>;
  evalScript(
    script: LaneScript,
    keys: readonly string[],
    args: readonly string[],
    decode: ((v: RespValue) => unknown) | null = null,
  ): Promise<unknown> {
    let h = this.heads.get(script.sha);
    if (h === undefined) {
      h = { evalsha: `$7\r\nEVALSHA\r\n${bulk(script.sha)}`, eval: `$4\r\nEVAL\r\n${bulk(script.source)}` };
      this.heads.set(script.sha, h);
    }
    let tail = bulk(String(keys.length));
    const p = this.prefix;
    for (let i = 0; i < keys.length; i++) tail += bulk(p + keys[i]);
    for (let i = 0; i < args.length; i++) tail += bulk(args[i]!);
    const count = `*${3 + keys.length + args.length}\r\n`;
    return this.send(count + h.evalsha + tail, count + h.eval + tail, decode);
  }

  /** MGET of `keys` (prefixed): their values, null when absent. */
  mget(keys: readonly string[]): Promise<RespValue> {
    let frame = `*${1 + keys.length}\r\n$4\r\nMGET\r\n`;
    for (let i = 0; i < keys.length; i++) frame += bulk(this.prefix + keys[i]);
    return this.send(frame, null, null) as Promise<RespValue>;
  }

  /** Any command, arguments as given (no key prefix applied). */
  call(args: readonly string[]): Promise<RespValue> {
    return this.send(encodeCommand(args), null, null) as Promise<RespValue>;
  }

  /**
   * Waits for the pending calls' replies (at most `graceMs`, then they are rejected), then closes the
   * connection. Later calls fail.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    if (this.socket === null) return;
    if (this.pending > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        this.drained = r;
        timer = setTimeout(() => this.fail(new Error('redis lane closed with calls pending')), graceMs);
      });
      clearTimeout(timer);
    }
    const s = this.socket;
    if (s === null) return;
    await new Promise<void>((r) => {
      s.once('close', () => r());
      s.end();
    });
  }

  /** Closes the connection now; pending calls are rejected. */
  disconnect(): void {
    this.closed = true;
    this.fail(new Error('redis lane disconnected'));
  }

  private send(
    frame: string,
    noscript: string | null,
    decode: ((v: RespValue) => unknown) | null,
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('redis lane is closed'));
    if (this.socket === null) {
      if (performance.now() - this.lastFailureAt < this.retryDelayMs) {
        return Promise.reject(
          new Error(`redis connection unavailable: ${this.lastFailure?.message ?? 'unknown error'}`),
        );
      }
      try {
        this.connect();
      } catch (err) {
        this.fail(err as Error);
        return Promise.reject(new Error(`redis connection unavailable: ${(err as Error).message}`));
      }
    }
    return new Promise<unknown>((resolve, reject) => {
      this.queue.push({ resolve, reject, decode, noscript });
      this.write(frame);
    });
  }

  private write(frame: string): void {
    this.out += frame;
    if (!this.flushScheduled && this.ready) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Writes the frames of this turn in one write, at its end (setImmediate). */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (!this.ready || this.socket === null || this.out === '') return;
    const out = this.out;
    this.out = '';
    this.socket.write(out);
  };

  private connect(): void {
    const o = this.opts;
    const socket =
      o.path !== undefined
        ? net.connect({ path: o.path })
        : net.connect({ host: o.host ?? '127.0.0.1', port: o.port ?? 6379 });
    this.socket = socket;
    this.ready = false;
    this.restChunks = [];
    this.restLen = 0;
    socket.setNoDelay(true);
    socket.setTimeout(this.connectTimeoutMs);
    socket.on('timeout', () => socket.destroy(new Error('redis connection timed out')));
    socket.on('connect', () => {
      if (this.socket !== socket) return;
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      let hello = '';
      this.handshakeLeft = 0;
      if (o.password) {
        hello += encodeCommand(o.username ? ['AUTH', o.username, o.password] : ['AUTH', o.password]);
        this.handshakeLeft++;
      }
      if (o.db !== undefined && o.db !== 0) {
        hello += encodeCommand(['SELECT', String(o.db)]);
        this.handshakeLeft++;
      }
      this.ready = true;
      const out = hello + this.out;
      this.out = '';
      if (out !== '') socket.write(out);
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.onData(chunk);
    });
    socket.on('error', (err) => {
      if (this.socket === socket) this.fail(err);
    });
    socket.on('close', () => {
      if (this.socket === socket) this.fail(new Error('redis connection closed'));
    });
  }

  /** Drops the connection and rejects every pending call with `err`. */
  private fail(err: Error): void {
    const s = this.socket;
    this.socket = null;
    this.ready = false;
    this.out = '';
    this.restChunks = [];
    this.restLen = 0;
    this.lastFailureAt = performance.now();
    this.lastFailure = err;
    const q = this.queue;
    const head = this.head;
    this.queue = [];
    this.head = 0;
    s?.destroy();
    const e = new Error(`redis connection lost: ${err.message}`, { cause: err });
    for (let i = head; i < q.length; i++) q[i]!.reject(e);
    this.onDrained();
  }

  private onDrained(): void {
    if (this.drained !== null && this.pending === 0) {
      const d = this.drained;
      this.drained = null;
      d();
    }
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.restLen > 0) {
      // A large reply comes in many chunks: join them once it can be complete, not at every chunk.
      this.restChunks.push(chunk);
      this.restLen += chunk.length;
      if (this.restLen < this.restNeed) return;
      buf = Buffer.concat(this.restChunks, this.restLen);
      this.restChunks = [];
      this.restLen = 0;
    }
    this.pos = 0;
    while (this.pos < buf.length) {
      const start = this.pos;
      let v: Parsed;
      try {
        v = this.parse(buf);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      if (v === NEED_MORE) {
        const rest = buf.subarray(start);
        this.restChunks = [rest];
        this.restLen = rest.length;
        this.restNeed = Math.max(this.need - start, rest.length + 1);
        break;
      }
      this.settle(v);
      if (this.socket === null) return; // a handshake error dropped the connection
    }
    this.onDrained();
  }

  private settle(v: RespValue): void {
    if (this.handshakeLeft > 0) {
      this.handshakeLeft--;
      if (v instanceof RespReplyError) this.fail(v);
      return;
    }
    const p = this.queue[this.head];
    if (p === undefined) {
      this.fail(new Error('redis sent a reply nobody asked for'));
      return;
    }
    this.queue[this.head++] = undefined as unknown as Pending;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (!(v instanceof RespReplyError)) {
      if (p.decode === null) p.resolve(v);
      else {
        try {
          p.resolve(p.decode(v));
        } catch (err) {
          p.reject(err as Error);
        }
      }
    } else if (p.noscript !== null && v.message.startsWith('NOSCRIPT')) {
      const retry = p.noscript;
      p.noscript = null;
      this.queue.push(p);
      this.write(retry);
    } else p.reject(v);
  }

  /** Read position of `parse` in the buffer being parsed. */
  private pos = 0;

  /** One reply starting at `this.pos`, advancing it; NEED_MORE when the buffer ends first. */
  private parse(buf: Buffer): Parsed {
    const type = buf[this.pos];
    const eol = buf.indexOf(13, this.pos + 1);
    if (eol < 0 || eol + 1 >= buf.length) {
      this.need = buf.length + 1;
      return NEED_MORE;
    }
    const lineStart = this.pos + 1;
    this.pos = eol + 2;
    switch (type) {
      case 36: {
        // $ bulk string
        const n = readInt(buf, lineStart, eol);
        if (n < 0) return null;
        const end = this.pos + n;
        if (end + 2 > buf.length) {
          this.need = end + 2;
          return NEED_MORE;
        }
        this.pos = end + 2;
        return buf.toString('utf8', end - n, end);
      }
      case 58: // : integer
        return readInt(buf, lineStart, eol);
      case 43: // + simple string
        return buf.toString('utf8', lineStart, eol);
      case 45: // - error
        return new RespReplyError(buf.toString('utf8', lineStart, eol));
      case 42: {
        // * array
        const n = readInt(buf, lineStart, eol);
        if (n < 0) return null;
        const out = new Array<RespValue>(n);
        for (let i = 0; i < n; i++) {
          if (this.pos >= buf.length) {
            this.need = buf.length + 1;
            return NEED_MORE;
          }
          const v = this.parse(buf);
          if (v === NEED_MORE) return NEED_MORE;
          out[i] = v;
        }
        return out;
      }
      default:
        throw new Error(`unexpected RESP type byte ${type}`);
    }
  }
}

/** The decimal integer in buf[start, end). */
function readInt(buf: Buffer, start: number, end: number): number {
  let i = start;
  let neg = false;
  if (buf[i] === 45) {
    neg = true;
    i++;
  }
  let n = 0;
  for (; i < end; i++) n = n * 10 + (buf[i]! - 48);
  return neg ? -n : n;
}
