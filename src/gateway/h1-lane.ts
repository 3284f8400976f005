/**
 * The gateway's upstream client for the common exchange: an HTTP/1.1 request without a body to a plain
 * `http:` origin, over keep-alive sockets. It speaks the part of undici's core dispatch-handler interface
 * the proxy's Exchange uses (onConnect / onHeaders / onData / onComplete / onError), so the proxy hands
 * an exchange to this lane or to an undici Pool alike; everything else (request bodies, TLS upstreams,
 * a capped pool) stays on undici.
 *
 * Why hand-written: per proxied call undici's dispatch costs about a third of the bare proxy's CPU
 * (request object and header validation, a wasm parser called back per header, per-request timers).
 * This lane writes the request head as one string, parses the response head with one slice and a split,
 * and keeps time with one sweep per lane instead of a timer per request; bench:gateway measures
 * the difference (docs/benchmarks.md). It is strict where a proxy must be: a response it cannot frame
 * with certainty (both Content-Length and Transfer-Encoding, an unknown transfer coding, conflicting
 * lengths, a malformed head or chunk, bytes the upstream sends unasked) fails the exchange with a 502 and
 * the socket is closed, never reused, so one bad answer cannot bleed into the next exchange.
 *
 * Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; chunked when Transfer-Encoding is
 * `chunked`; Content-Length bytes; otherwise the body runs until the upstream closes. Interim 1xx answers
 * are skipped. Trailers are read and dropped. A socket is reused only after a complete HTTP/1.1 answer
 * that did not say `Connection: close`; idle sockets close after `keepAliveTimeout`, or a second before
 * the upstream's own `Keep-Alive: timeout=N` when that is shorter. An idempotent request whose reused
 * socket turned out closed before any answer byte is sent once more on a new socket (the upstream's
 * keep-alive timeout raced ours).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** The handler calls the proxy's Exchange answers (undici's core dispatch-handler shape). */
export interface LaneHandler {
  onConnect(abort: (err?: Error) => void): void;
  /** `raw` is the flat `[name, value, …]` list as received; false pauses reading until `resume`. */
  onHeaders(status: number, raw: string[], resume: () => void): boolean;
  /** False pauses reading until `resume`. */
  onData(chunk: Buffer): boolean;
  onComplete(trailers: null): void;
  onError(err: Error): void;
}

export interface LaneRequest {
  readonly path: string;
  readonly method: string;
  /**
   * A flat `[name, value, …]` list built from node's parsed request (already validated there), or an
   * object a hook may have edited (checked here: a name that is not a token or a value holding CR, LF or
   * NUL fails the exchange).
   */
  readonly headers: readonly string[] | Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The lane serves bodiless requests only: anything but null or undefined here is refused. */
  readonly body?: unknown;
  readonly headersTimeout?: number;
  readonly bodyTimeout?: number;
}

export interface H1LaneOptions {
  /** TCP connect; exceeded → an error with code UND_ERR_CONNECT_TIMEOUT. */
  readonly connectTimeout: number;
  /** Request written → complete response head; exceeded → UND_ERR_HEADERS_TIMEOUT. */
  readonly headersTimeout: number;
  /** Longest silence between body bytes (not counted while paused); exceeded → UND_ERR_BODY_TIMEOUT. */
  readonly bodyTimeout: number;
  /** Idle sockets are closed after this long. */
  readonly keepAliveTimeout: number;
  /** Largest response head accepted (bytes); default 64 KiB. */
  readonly maxHeaderSize?: number;
}

/** An error of the lane, with the code the proxy maps to 502 or 504. */
export class LaneError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LaneError';
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: |$)/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\r\n\0]/;
const HEX = /^[0-9A-Fa-f]{1,12}$/;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const MAX_LINE = 4096; // chunk-size lines and trailer lines
const kConn = Symbol('tollgate.h1conn');

enum State {
  Idle,
  Head,
  Length,
  Chunked,
  UntilClose,
}
enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailers,
}

type Sock = net.Socket & { [kConn]?: Conn };

function protocolError(message: string): LaneError {
  return new LaneError('TOLLGATE_UPSTREAM_PROTOCOL', `upstream answer not valid HTTP/1.1: ${message}`);
}

/** One upstream socket and the exchange it carries (at most one: no pipelining). */
class Conn {
  readonly sock: Sock;
  state = State.Idle;
  handler: LaneHandler | null = null;
  req: LaneRequest | null = null;
  /** Head bytes, or a partial chunk-size / trailer line, kept across socket reads. */
  pending: Buffer | null = null;
  /** Body bytes (Length) or chunk bytes (Chunked/Data) still to come. */
  left = 0;
  chunk = Chunk.Size;
  /** Reusable once the current answer completes. */
  keepAlive = true;
  /** Exchanges this socket carried; bytes received for the current one. */
  uses = 0;
  got = 0;
  paused = false;
  /** performance.now() by which the current phase must progress; 0 = none (idle, or paused). */
  deadline = 0;
  idleSince = 0;
  /** How long this socket may idle before it is closed: the lane's limit, or less when the upstream says so. */
  idleMs = 0;
  /** Bytes of the current socket read that follow the part being parsed (unasked when the answer ends). */
  trailing = 0;
  /** Bytes read but not yet parsed because the handler paused (delivered on resume). */
  stash: Buffer | null = null;
  /** The current exchange's resume (a stale one from an earlier exchange does nothing). */
  resume: () => void = noop;

  constructor(
    readonly lane: H1Lane,
    port: number,
    host: string,
  ) {
    const sock = net.connect({ port, host }) as Sock;
    sock.setNoDelay(true);
    sock[kConn] = this;
    this.sock = sock;
    sock.on('data', onSocketData);
    sock.on('end', onSocketEnd);
    sock.on('error', onSocketError);
    sock.on('close', onSocketClose);
    sock.once('connect', onSocketConnect);
  }

  /** The handler asked for more: parse what was held back, then read the socket again. */
  private unpause(): void {
    if (!this.paused) return;
    this.paused = false;
    this.deadline = this.lane.deadline(this.bodyTimeout());
    const held = this.stash;
    this.stash = null;
    if (held !== null) this.consume(held);
    if (!this.paused && !this.sock.destroyed) this.sock.resume();
  }

  bodyTimeout(): number {
    return this.req?.bodyTimeout ?? this.lane.opts.bodyTimeout;
  }

  /** Starts an exchange on this socket. */
  start(req: LaneRequest, handler: LaneHandler, head: string): void {
    this.handler = handler;
    this.req = req;
    this.state = State.Head;
    this.got = 0;
    this.uses++;
    this.keepAlive = true;
    this.pending = null;
    this.deadline = this.lane.deadline(req.headersTimeout ?? this.lane.opts.headersTimeout);
    this.lane.active.add(this);
    const abort = (err?: Error): void => {
      if (this.handler === handler) this.fail(err ?? new LaneError('UND_ERR_ABORTED', 'request aborted'));
    };
    this.resume = () => {
      if (this.handler === handler) this.unpause();
    };
    try {
      handler.onConnect(abort);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.handler !== handler) return; // aborted at once
    this.sock.write(head, 'latin1');
  }

  /** Reads what the socket brought for the current exchange. */
  read(data: Buffer): void {
    if (this.handler === null) {
      // Bytes nobody asked for: the socket's framing can no longer be trusted.
      this.sock.destroy();
      return;
    }
    this.got += data.length;
    this.consume(data);
  }

  /** Parses bytes until they run out, the exchange ends, or the handler pauses (the rest is stashed). */
  private consume(data: Buffer): void {
    let buf = data;
    while (buf.length > 0 && this.handler !== null && !this.paused) {
      switch (this.state) {
        case State.Head:
          buf = this.readHead(buf);
          break;
        case State.Length:
          buf = this.readLength(buf);
          break;
        case State.Chunked:
          buf = this.readChunked(buf);
          break;
        case State.UntilClose:
          this.deliver(buf);
          buf = EMPTY;
          break;
        default:
          buf = EMPTY;
      }
    }
    if (buf.length === 0) return;
    if (this.handler === null) {
      // The answer ended but more bytes followed it, unasked.
      if (!this.sock.destroyed) this.sock.destroy();
    } else this.stash = buf; // paused: kept for resume (the socket itself is paused too)
  }

  private readHead(data: Buffer): Buffer {
    let buf = data;
    let from = 0;
    if (this.pending !== null) {
      from = Math.max(0, this.pending.length - 3);
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    const end = buf.indexOf(CRLF2, from);
    const max = this.lane.opts.maxHeaderSize ?? 65_536;
    if (end < 0) {
      // Up to 3 bytes of the terminating CRLFCRLF may already be here: not counted against the limit.
      if (buf.length > max + 3) this.fail(protocolError(`response head larger than ${max} bytes`));
      else this.pending = buf;
      return EMPTY;
    }
    if (end > max) {
      this.fail(protocolError(`response head larger than ${max} bytes`));
      return EMPTY;
    }
    this.trailing = buf.length - end - 4;
    this.parseHead(buf.toString('latin1', 0, end));
    return buf.subarray(end + 4);
  }

  /** Parses one response head and, for a final answer, hands it to the handler. */
  private parseHead(head: string): void {
    const lines = head.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (m === null) {
      this.fail(protocolError('bad status line'));
      return;
    }
    const status = Number(m[2]);
    const raw: string[] = [];
    let length = -1;
    let chunked = false;
    let close = m[1] === '0';
    let keepAliveHint = -1;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const k = line.indexOf(':');
      if (k <= 0 || BAD_VALUE.test(line)) {
        this.fail(protocolError(k <= 0 ? 'header line without a name' : 'CR, LF or NUL in a header'));
        return;
      }
      const name = line.slice(0, k);
      if (!TOKEN.test(name)) {
        this.fail(protocolError('bad header name'));
        return;
      }
      const value = line.slice(k + 1).trim();
      raw.push(name, value);
      switch (name.length) {
        case 10: {
          const lower = name.toLowerCase();
          if (lower === 'connection') {
            const v = value.toLowerCase();
            if (v === 'close' || /(?:^|,)\s*close\s*(?:,|$)/.test(v)) close = true;
          } else if (lower === 'keep-alive') {
            const t = /(?:^|[\s,])timeout\s*=\s*(\d{1,9})/i.exec(value);
            if (t !== null) keepAliveHint = Number(t[1]);
          }
          break;
        }
        case 14:
          if (name.toLowerCase() === 'content-length') {
            for (const part of value.split(',')) {
              const p = part.trim();
              const n = /^\d{1,15}$/.test(p) ? Number(p) : Number.NaN;
              if (Number.isNaN(n) || (length >= 0 && n !== length)) {
                this.fail(protocolError('bad or conflicting Content-Length'));
                return;
              }
              length = n;
            }
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            if (chunked || value.toLowerCase() !== 'chunked') {
              this.fail(protocolError(`unsupported Transfer-Encoding "${value}"`));
              return;
            }
            chunked = true;
          }
          break;
      }
    }
    if (chunked && length >= 0) {
      this.fail(protocolError('both Content-Length and Transfer-Encoding'));
      return;
    }
    if (status < 200) {
      if (status === 101) this.fail(protocolError('101 Switching Protocols was not asked for'));
      return; // interim answer: read the next head
    }
    if (close) this.keepAlive = false;
    // `Keep-Alive: timeout=N` (seconds): idle at most N − 1 s here, so the upstream never closes first.
    const limit = this.lane.opts.keepAliveTimeout;
    this.idleMs = keepAliveHint < 0 ? limit : Math.min(limit, keepAliveHint * 1000 - 1000);
    if (this.idleMs <= 0) this.keepAlive = false;
    const noBody = status === 204 || status === 304 || this.req!.method === 'HEAD';
    const handler = this.handler!;
    let goOn: boolean;
    try {
      goOn = handler.onHeaders(status, raw, this.resume);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.handler !== handler) return; // aborted in onHeaders
    if (!goOn) this.pause();
    if (noBody) {
      this.complete();
    } else if (chunked) {
      this.state = State.Chunked;
      this.chunk = Chunk.Size;
      this.deadline = this.paused ? 0 : this.lane.deadline(this.bodyTimeout());
    } else if (length >= 0) {
      this.state = State.Length;
      this.left = length;
      if (length === 0) this.complete();
      else this.deadline = this.paused ? 0 : this.lane.deadline(this.bodyTimeout());
    } else {
      this.state = State.UntilClose;
      this.keepAlive = false;
      this.deadline = this.paused ? 0 : this.lane.deadline(this.bodyTimeout());
    }
  }

  private readLength(buf: Buffer): Buffer {
    if (buf.length <= this.left) {
      this.left -= buf.length;
      this.deliver(buf);
      this.trailing = 0;
      if (this.left === 0 && this.handler !== null) this.complete();
      return EMPTY;
    }
    const body = buf.subarray(0, this.left);
    this.left = 0;
    this.trailing = buf.length - body.length;
    this.deliver(body);
    if (this.handler !== null) this.complete();
    return buf.subarray(body.length);
  }

  private readChunked(data: Buffer): Buffer {
    let buf = data;
    while (buf.length > 0 && this.handler !== null && !this.paused) {
      if (this.chunk === Chunk.Data) {
        const n = Math.min(this.left, buf.length);
        this.left -= n;
        this.deliver(n === buf.length ? buf : buf.subarray(0, n));
        buf = buf.subarray(n);
        if (this.left === 0) this.chunk = Chunk.DataEnd;
        continue;
      }
      // Line-oriented parts: a chunk-size line, the CRLF after a chunk's data, a trailer line.
      if (this.pending !== null) {
        buf = Buffer.concat([this.pending, buf]);
        this.pending = null;
      }
      const eol = buf.indexOf('\r\n');
      if (eol < 0) {
        if (buf.length > MAX_LINE) this.fail(protocolError('chunk line too long'));
        else this.pending = buf;
        return EMPTY;
      }
      const line = buf.toString('latin1', 0, eol);
      buf = buf.subarray(eol + 2);
      if (this.chunk === Chunk.DataEnd) {
        if (line.length !== 0) {
          this.fail(protocolError('chunk data longer than its size'));
          return EMPTY;
        }
        this.chunk = Chunk.Size;
      } else if (this.chunk === Chunk.Size) {
        const semi = line.indexOf(';');
        const hex = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
        if (!HEX.test(hex) || BAD_VALUE.test(line)) {
          this.fail(protocolError('bad chunk size'));
          return EMPTY;
        }
        const size = Number.parseInt(hex, 16);
        if (size === 0) this.chunk = Chunk.Trailers;
        else {
          this.left = size;
          this.chunk = Chunk.Data;
        }
      } else if (line.length === 0) {
        this.trailing = buf.length;
        this.complete(); // the empty line after the last chunk (and any trailers)
        return buf;
      } else if (BAD_VALUE.test(line) || line.indexOf(':') <= 0) {
        this.fail(protocolError('bad trailer line'));
        return EMPTY;
      }
    }
    return buf;
  }

  private deliver(chunk: Buffer): void {
    const handler = this.handler!;
    let goOn: boolean;
    try {
      goOn = handler.onData(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.handler !== handler) return;
    if (!goOn) this.pause();
    else this.deadline = this.lane.deadline(this.bodyTimeout());
  }

  private pause(): void {
    this.paused = true;
    this.deadline = 0; // a slow client is not a slow upstream
    this.sock.pause();
  }

  /** The answer is whole: hand the socket back (or close it), then tell the handler. */
  private complete(): void {
    const handler = this.handler!;
    this.handler = null;
    this.req = null;
    this.state = State.Idle;
    this.deadline = 0;
    this.lane.active.delete(this);
    if (this.paused) {
      this.paused = false;
      this.sock.resume();
    }
    // Bytes after the answer were not asked for: the socket's framing is no longer trusted.
    if (this.keepAlive && this.trailing === 0 && !this.sock.destroyed && !this.lane.closed)
      this.lane.release(this);
    else this.sock.destroy();
    try {
      handler.onComplete(null);
    } catch (err) {
      process.emitWarning(err as Error);
    }
  }

  /** Ends the current exchange with an error; the socket is not trusted again. */
  fail(err: Error): void {
    const handler = this.handler;
    this.handler = null;
    this.req = null;
    this.state = State.Idle;
    this.deadline = 0;
    this.pending = null;
    this.stash = null;
    this.paused = false;
    this.lane.active.delete(this);
    this.sock.destroy();
    if (handler === null) return;
    try {
      handler.onError(err);
    } catch (e) {
      process.emitWarning(e as Error);
    }
  }

  /** The socket ended or closed under the current exchange. */
  lost(err: Error | undefined): void {
    this.lane.forget(this);
    const handler = this.handler;
    if (handler === null) return;
    if (this.state === State.UntilClose && err === undefined) {
      this.trailing = 0;
      this.complete();
      return;
    }
    const req = this.req!;
    // A reused socket that closed before any answer byte: the upstream dropped it while idle.
    if (this.got === 0 && this.uses > 1 && this.state === State.Head && IDEMPOTENT.has(req.method)) {
      this.handler = null;
      this.req = null;
      this.state = State.Idle;
      this.lane.active.delete(this);
      this.lane.dispatchFresh(req, handler);
      return;
    }
    this.fail(
      err ??
        new LaneError(
          'UND_ERR_SOCKET',
          this.state === State.Head ? 'upstream closed before answering' : 'upstream closed mid-body',
        ),
    );
  }
}

const EMPTY = Buffer.alloc(0);

function noop(): void {}

function onSocketData(this: Sock, data: Buffer): void {
  this[kConn]?.read(data);
}

function onSocketEnd(this: Sock): void {
  const c = this[kConn];
  if (c !== undefined && c.handler !== null && c.state === State.UntilClose) c.lost(undefined);
}

function onSocketError(this: Sock, err: Error): void {
  this[kConn]?.lost(err);
}

function onSocketClose(this: Sock): void {
  this[kConn]?.lost(undefined);
}

function onSocketConnect(this: Sock): void {
  const c = this[kConn];
  if (c === undefined) return;
  c.lane.connected(c);
}

/** Serialises a request head; null when a field cannot be sent safely. */
function requestHead(req: LaneRequest, host: string): string | null {
  let s = `${req.method} ${req.path} HTTP/1.1\r\n`;
  const h = req.headers;
  let hasHost = false;
  if (Array.isArray(h)) {
    const flat = h as readonly string[];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
      s += `${name}: ${value}\r\n`;
    }
  } else {
    const o = h as Readonly<Record<string, string | readonly string[] | undefined>>;
    for (const name of Object.keys(o)) {
      const v = o[name];
      if (v === undefined) continue;
      if (!TOKEN.test(name)) return null;
      if (name.toLowerCase() === 'host') hasHost = true;
      for (const one of typeof v === 'string' ? [v] : v) {
        if (BAD_VALUE.test(one)) return null;
        s += `${name}: ${one}\r\n`;
      }
    }
  }
  if (!hasHost) s += `host: ${host}\r\n`;
  return `${s}\r\n`;
}

/** Keep-alive sockets to one `http:` origin, reused most-recent first. */
export class H1Lane {
  readonly active = new Set<Conn>();
  private readonly idle: Conn[] = [];
  private readonly connecting = new Map<Conn, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | null = null;
  private tick: number;
  /** After close(): new dispatches fail, finished sockets are closed instead of kept. */
  closed = false;

  private readonly hostname: string;

  /** `hostname` as in a URL (an IPv6 address in brackets is accepted); `host`: the default Host field. */
  constructor(
    hostname: string,
    private readonly port: number,
    private readonly host: string,
    readonly opts: H1LaneOptions,
  ) {
    this.hostname = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    this.tick = H1Lane.tickFor(Math.min(opts.headersTimeout, opts.bodyTimeout, opts.keepAliveTimeout));
  }

  /** A deadline `ms` from now; the sweep notices it at most one tick late. */
  deadline(ms: number): number {
    return performance.now() + ms;
  }

  /** Sweep period for a timeout: a quarter of it, between 10 ms and 1 s. */
  private static tickFor(ms: number): number {
    return Math.max(10, Math.min(1000, Math.floor(ms / 4)));
  }

  /** Sends one bodiless request; the handler hears the outcome. */
  dispatch(req: LaneRequest, handler: LaneHandler): void {
    if (this.closed) {
      handler.onError(new LaneError('UND_ERR_DESTROYED', 'the upstream client is closed'));
      return;
    }
    if (req.body !== null && req.body !== undefined) {
      handler.onError(new LaneError('UND_ERR_INVALID_ARG', 'the lane sends bodiless requests only'));
      return;
    }
    const head = requestHead(req, this.host);
    if (head === null) {
      handler.onError(new LaneError('UND_ERR_INVALID_ARG', 'a request field holds CR, LF or NUL'));
      return;
    }
    this.ensureTimer(req);
    const now = performance.now();
    let c = this.idle.pop();
    while (c !== undefined && (c.sock.destroyed || now - c.idleSince > c.idleMs)) {
      c.sock.destroy(); // idled past its limit (the sweep had not come by yet)
      c = this.idle.pop();
    }
    (c ?? this.open()).start(req, handler, head);
  }

  /** After a stale keep-alive socket: the same request on a new socket. */
  dispatchFresh(req: LaneRequest, handler: LaneHandler): void {
    if (this.closed) {
      handler.onError(new LaneError('UND_ERR_DESTROYED', 'the upstream client is closed'));
      return;
    }
    const head = requestHead(req, this.host)!;
    this.ensureTimer(req);
    this.open().start(req, handler, head);
  }

  private open(): Conn {
    const c = new Conn(this, this.port, this.hostname);
    const timer = setTimeout(() => {
      this.connecting.delete(c);
      c.fail(new LaneError('UND_ERR_CONNECT_TIMEOUT', 'connect timed out'));
    }, this.opts.connectTimeout);
    this.connecting.set(c, timer);
    return c;
  }

  connected(c: Conn): void {
    const t = this.connecting.get(c);
    if (t !== undefined) {
      clearTimeout(t);
      this.connecting.delete(c);
    }
  }

  release(c: Conn): void {
    c.idleSince = performance.now();
    this.idle.push(c);
  }

  forget(c: Conn): void {
    this.connected(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private ensureTimer(req: LaneRequest): void {
    const ms = Math.min(
      req.headersTimeout ?? this.opts.headersTimeout,
      req.bodyTimeout ?? this.opts.bodyTimeout,
    );
    const tick = H1Lane.tickFor(ms);
    if (this.timer !== null && tick >= this.tick) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.tick = Math.min(this.tick, tick);
    this.timer = setInterval(() => this.sweep(), this.tick);
    this.timer.unref();
  }

  /** Advances the clock, times out stalled exchanges, closes idle sockets; stops when nothing is left. */
  private sweep(): void {
    const now = performance.now();
    for (const c of this.active) {
      if (c.deadline !== 0 && now > c.deadline) {
        const code = c.state === State.Head ? 'UND_ERR_HEADERS_TIMEOUT' : 'UND_ERR_BODY_TIMEOUT';
        c.fail(
          new LaneError(code, code === 'UND_ERR_HEADERS_TIMEOUT' ? 'no answer in time' : 'body stalled'),
        );
      }
    }
    let kept = 0;
    for (const c of this.idle) {
      if (now - c.idleSince > c.idleMs) c.sock.destroy();
      else this.idle[kept++] = c;
    }
    this.idle.length = kept;
    if (this.active.size === 0 && this.idle.length === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Closes idle sockets now and the others once their exchanges end; new dispatches fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.sock.destroy();
    while (this.active.size > 0) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.idle.splice(0)) c.sock.destroy();
    for (const t of this.connecting.values()) clearTimeout(t);
    this.connecting.clear();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sockets open (in use, idle): for tests and metrics. */
  get sockets(): { readonly active: number; readonly idle: number } {
    return { active: this.active.size, idle: this.idle.length };
  }
}
