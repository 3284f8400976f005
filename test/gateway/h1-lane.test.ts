// H1Lane (src/gateway/h1-lane.ts), adversarially, over real sockets: keep-alive reuse, every response framing
// (Content-Length, chunked byte by byte with extensions and trailers, until-close, HEAD/204/304), interim
// 1xx answers, the protocol errors that must fail the exchange and close the socket (and never poison the
// next one), unasked bytes, Connection: close and HTTP/1.0, stale keep-alive sockets (idempotent retry vs
// POST), headers/body timeouts, connection refused, back-pressure, abort, idle expiry, request validation,
// concurrency without mix-ups, and close(). Most upstreams are raw `net` servers that write scripted bytes.
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H1Lane, type H1LaneOptions, type LaneHandler, type LaneRequest } from '../../src/gateway/h1-lane.js';

type CodedError = Error & { code?: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds; false when it never did within `ms` (a liveness bound, not a speed check). */
async function waitFor(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Scripted raw upstream

/** One accepted upstream connection and the request heads it received. */
interface UpConn {
  readonly id: number;
  readonly socket: net.Socket;
  readonly heads: string[];
  closed: boolean;
  readonly whenClosed: Promise<void>;
}

/** Called per request head received on a connection; `n` counts heads on that connection from 0. */
type Respond = (conn: UpConn, head: string, n: number) => void;

interface RawUpstream {
  readonly port: number;
  readonly conns: UpConn[];
  /** Every request head received, in order, over all connections. */
  readonly heads: string[];
}

const cleanups: Array<() => Promise<void>> = [];

async function rawUpstream(respond: Respond): Promise<RawUpstream> {
  const conns: UpConn[] = [];
  const heads: string[] = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let markClosed: () => void = () => {};
    const conn: UpConn = {
      id: conns.length,
      socket,
      heads: [],
      closed: false,
      whenClosed: new Promise<void>((r) => {
        markClosed = r;
      }),
    };
    conns.push(conn);
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0 || socket.destroyed) break;
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        conn.heads.push(head);
        heads.push(head);
        respond(conn, head, conn.heads.length - 1);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closed = true;
      markClosed();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const c of conns) c.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, conns, heads };
}

/** Whether the upstream saw `conn` closed within `ms` (a liveness bound). */
async function closedWithin(conn: UpConn | undefined, ms = 5_000): Promise<boolean> {
  if (conn === undefined) return false;
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    conn.whenClosed.then(() => true),
    new Promise<boolean>((res) => {
      timer = setTimeout(() => res(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return r;
}

/** A complete 200 answer with a Content-Length body. */
function ok(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** Answers `ok(path)` to every request: the body names the request it answers. */
const echoPath: Respond = (conn, head) => {
  conn.socket.write(ok(head.split(' ')[1] ?? '?'));
};

// ---------------------------------------------------------------------------------------------------------
// Lanes and the recording handler

const lanes: H1Lane[] = [];

const DEFAULTS: H1LaneOptions = {
  connectTimeout: 2_000,
  headersTimeout: 5_000,
  bodyTimeout: 5_000,
  keepAliveTimeout: 10_000,
};

function makeLane(port: number, opts: Partial<H1LaneOptions> = {}): H1Lane {
  const lane = new H1Lane('127.0.0.1', port, `up.test:${port}`, { ...DEFAULTS, ...opts });
  lanes.push(lane);
  return lane;
}

interface Hooks {
  onConnect?(abort: (err?: Error) => void, rec: Recorder): void;
  onHeaders?(status: number, rec: Recorder): boolean;
  onData?(chunk: Buffer, rec: Recorder): boolean;
  onComplete?(rec: Recorder): void;
}

interface Outcome {
  /** The final status (null when onHeaders never came). */
  readonly status: number | null;
  readonly raw: string[];
  readonly body: Buffer;
  readonly error: CodedError | null;
}

const recorders: Recorder[] = [];

/** A handler that records every call, resolves on onComplete/onError, and notes calls after either. */
class Recorder implements LaneHandler {
  readonly events: string[] = [];
  /** Callbacks that arrived after onComplete/onError: always a bug. */
  readonly late: string[] = [];
  readonly statuses: number[] = [];
  readonly chunks: Buffer[] = [];
  raw: string[] = [];
  error: CodedError | null = null;
  finished = false;
  connects = 0;
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;
  readonly done: Promise<Outcome>;
  private settle: (o: Outcome) => void = () => {};

  constructor(private readonly hooks: Hooks = {}) {
    this.done = new Promise<Outcome>((r) => {
      this.settle = r;
    });
    recorders.push(this);
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private note(event: string): void {
    if (this.finished) this.late.push(event);
    this.events.push(event);
  }

  private outcome(): Outcome {
    return { status: this.statuses.at(-1) ?? null, raw: this.raw, body: this.body, error: this.error };
  }

  onConnect(abort: (err?: Error) => void): void {
    this.note('connect');
    this.connects++;
    this.abort = abort;
    this.hooks.onConnect?.(abort, this);
  }

  onHeaders(status: number, raw: string[], resume: () => void): boolean {
    this.note('headers');
    this.statuses.push(status);
    this.raw = raw;
    this.resume = resume;
    return this.hooks.onHeaders?.(status, this) ?? true;
  }

  onData(chunk: Buffer): boolean {
    this.note('data');
    this.chunks.push(Buffer.from(chunk));
    return this.hooks.onData?.(chunk, this) ?? true;
  }

  onComplete(_trailers: null): void {
    this.note('complete');
    if (this.finished) return;
    this.finished = true;
    this.hooks.onComplete?.(this);
    this.settle(this.outcome());
  }

  onError(err: Error): void {
    this.note('error');
    if (this.finished) return;
    this.finished = true;
    this.error = err as CodedError;
    this.settle(this.outcome());
  }
}

function get(path: string, extra: Partial<LaneRequest> = {}): LaneRequest {
  return { path, method: 'GET', headers: [], ...extra };
}

/** Dispatches and returns the recorder (its `done` settles on completion or error). */
function start(lane: H1Lane, req: LaneRequest, hooks: Hooks = {}): Recorder {
  const rec = new Recorder(hooks);
  lane.dispatch(req, rec);
  return rec;
}

function run(lane: H1Lane, req: LaneRequest, hooks: Hooks = {}): Promise<Outcome> {
  return start(lane, req, hooks).done;
}

/** A successful exchange's body as text (fails the test with the error otherwise). */
async function text(lane: H1Lane, req: LaneRequest): Promise<string> {
  const out = await run(lane, req);
  expect(out.error).toBeNull();
  return out.body.toString('latin1');
}

afterEach(async () => {
  // Late callbacks may trail the settled promise by a turn or two.
  await sleep(30);
  const late = recorders.flatMap((r) => r.late);
  recorders.length = 0;
  for (const clean of cleanups.splice(0)) await clean();
  for (const lane of lanes.splice(0)) {
    await Promise.race([lane.close(), sleep(10_000)]);
  }
  expect(late, 'callbacks after onComplete/onError').toEqual([]);
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane framing and keep-alive', () => {
  it('reads a Content-Length body, sends the head as given, and reuses the socket for the next request', async () => {
    const up = await rawUpstream((conn, _head, n) => {
      conn.socket.write(ok(n === 0 ? 'first body' : 'second', 'X-Mixed-Case:  spaced value  \r\n'));
    });
    const lane = makeLane(up.port);

    const first = await run(lane, {
      path: '/a/b?c=1',
      method: 'GET',
      headers: ['x-one', '1', 'X-Two', 'two'],
    });
    expect(first.error).toBeNull();
    expect(first.status).toBe(200);
    expect(first.body.toString()).toBe('first body');
    expect(first.raw).toEqual(['Content-Length', '10', 'X-Mixed-Case', 'spaced value']);
    expect(lane.sockets).toEqual({ active: 0, idle: 1 });

    const second = await run(lane, {
      path: '/other',
      method: 'OPTIONS',
      headers: { 'x-three': ['a', 'b'], Host: 'custom.example', 'x-skipped': undefined },
    });
    expect(second.error).toBeNull();
    expect(second.body.toString()).toBe('second');

    expect(up.conns).toHaveLength(1);
    const [h1, h2] = up.conns[0]!.heads;
    expect(h1!.split('\r\n')).toEqual([
      'GET /a/b?c=1 HTTP/1.1',
      'x-one: 1',
      'X-Two: two',
      `host: up.test:${up.port}`,
    ]);
    // A Host given by the caller replaces the default; multi-valued fields go out as repeated lines.
    expect(h2!.split('\r\n')).toEqual([
      'OPTIONS /other HTTP/1.1',
      'x-three: a',
      'x-three: b',
      'Host: custom.example',
    ]);
  });

  it('reads a large Content-Length body that arrives over many socket reads, byte-exact', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 8)) & 0xff;
    const up = await rawUpstream((conn, _head, n) => {
      if (n > 0) {
        conn.socket.write(ok(''));
        return;
      }
      conn.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`);
      conn.socket.write(payload);
    });
    const lane = makeLane(up.port);
    const out = await run(lane, get('/big'));
    expect(out.error).toBeNull();
    expect(out.body.equals(payload)).toBe(true);
    expect(await text(lane, get('/again'))).toBe('');
  }, 20_000);

  it('reassembles a chunked body written one byte per write, with chunk extensions and trailers, then reuses the socket', async () => {
    const answer =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n' +
      '5;ext=1\r\nhello\r\n' +
      '6;a=b;c="d e"\r\n world\r\n' +
      'A\r\n, 0123456!\r\n' +
      '0\r\nX-Sum: abc\r\nX-Other: 1\r\n\r\n';
    const up = await rawUpstream((conn, _head, n) => {
      if (n > 0) {
        conn.socket.write(ok('next'));
        return;
      }
      void (async () => {
        for (const byte of Buffer.from(answer, 'latin1')) {
          if (conn.socket.destroyed) return;
          conn.socket.write(Buffer.of(byte));
          await sleep(1);
        }
      })();
    });
    const lane = makeLane(up.port);
    const rec = start(lane, get('/chunked'));
    const out = await rec.done;
    expect(out.error).toBeNull();
    expect(out.status).toBe(200);
    expect(out.body.toString()).toBe('hello world, 0123456!');
    expect(rec.statuses).toEqual([200]);
    expect(await text(lane, get('/next'))).toBe('next');
    expect(up.conns).toHaveLength(1);
  });

  it('reads a chunked body that arrives in one write (head, chunks, trailers together)', async () => {
    const up = await rawUpstream((conn, _head, n) => {
      conn.socket.write(
        n === 0
          ? 'HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\nX-T: 1\r\n\r\n'
          : ok('again'),
      );
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('abcd');
    expect(await text(lane, get('/'))).toBe('again');
    expect(up.conns).toHaveLength(1);
  });

  it('reads a body without Content-Length or Transfer-Encoding until the upstream closes, then uses a new socket', async () => {
    const up = await rawUpstream((conn) => {
      if (conn.id > 0) {
        conn.socket.write(ok('fresh'));
        return;
      }
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ');
      setTimeout(() => {
        conn.socket.write('part two');
        setTimeout(() => conn.socket.end(), 20);
      }, 20);
    });
    const lane = makeLane(up.port);
    const out = await run(lane, get('/until-close'));
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('part one, part two');
    expect(await waitFor(() => lane.sockets.idle === 0 && lane.sockets.active === 0)).toBe(true);
    expect(await text(lane, get('/next'))).toBe('fresh');
    expect(up.conns).toHaveLength(2);
  });

  it('completes a HEAD answer that declares Content-Length (or chunked) without body bytes, and reuses the socket', async () => {
    const up = await rawUpstream((conn, head) => {
      if (head.startsWith('HEAD /cl')) conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n');
      else if (head.startsWith('HEAD /te'))
        conn.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      else conn.socket.write(ok('after head'));
    });
    const lane = makeLane(up.port);
    const a = await run(lane, { path: '/cl', method: 'HEAD', headers: [] });
    expect(a.error).toBeNull();
    expect(a.status).toBe(200);
    expect(a.body.length).toBe(0);
    expect(a.raw).toEqual(['Content-Length', '12345']);
    const b = await run(lane, { path: '/te', method: 'HEAD', headers: [] });
    expect(b.error).toBeNull();
    expect(b.body.length).toBe(0);
    expect(await text(lane, get('/get'))).toBe('after head');
    expect(up.conns).toHaveLength(1);
  });

  it('completes 204 and 304 answers without a body (a 304 may declare a length) and reuses the socket', async () => {
    const up = await rawUpstream((conn, head) => {
      if (head.startsWith('GET /204')) conn.socket.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n');
      else if (head.startsWith('GET /304'))
        conn.socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\nETag: "x"\r\n\r\n');
      else conn.socket.write(ok('body'));
    });
    const lane = makeLane(up.port);
    const a = await run(lane, get('/204'));
    expect(a.error).toBeNull();
    expect(a.status).toBe(204);
    expect(a.body.length).toBe(0);
    const b = await run(lane, get('/304'));
    expect(b.error).toBeNull();
    expect(b.status).toBe(304);
    expect(b.body.length).toBe(0);
    expect(await text(lane, get('/200'))).toBe('body');
    expect(up.conns).toHaveLength(1);
  });

  it('accepts a zero Content-Length and repeated equal lengths ("5, 5" and two equal fields)', async () => {
    const up = await rawUpstream((conn, head) => {
      if (head.startsWith('GET /zero')) conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      else if (head.startsWith('GET /list'))
        conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello');
      else conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nworld');
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/zero'))).toBe('');
    expect(await text(lane, get('/list'))).toBe('hello');
    expect(await text(lane, get('/twice'))).toBe('world');
    expect(up.conns).toHaveLength(1);
  });

  it('skips interim 100 and 103 answers: onHeaders is called once, with the final 200', async () => {
    const up = await rawUpstream((conn, _head, n) => {
      if (n === 0) {
        conn.socket.write(
          'HTTP/1.1 100 Continue\r\n\r\n' +
            'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n' +
            ok('final'),
        );
      } else {
        // The interim answers in separate writes this time.
        conn.socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n');
        setTimeout(() => conn.socket.write('HTTP/1.1 100 Continue\r\n\r\n'), 10);
        setTimeout(() => conn.socket.write(ok('final 2')), 30);
      }
    });
    const lane = makeLane(up.port);
    const a = start(lane, get('/hints'));
    const outA = await a.done;
    expect(outA.error).toBeNull();
    expect(a.statuses).toEqual([200]);
    expect(outA.raw).toEqual(['Content-Length', '5']);
    expect(outA.body.toString()).toBe('final');
    const b = start(lane, get('/hints'));
    const outB = await b.done;
    expect(outB.error).toBeNull();
    expect(b.statuses).toEqual([200]);
    expect(outB.body.toString()).toBe('final 2');
    expect(up.conns).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane protocol errors: fail with TOLLGATE_UPSTREAM_PROTOCOL, close the socket, spare the next exchange', () => {
  interface BadCase {
    readonly name: string;
    /** The bad answer; an array is written piece by piece. */
    readonly answer: string | string[];
    /** Whether the head is valid (onHeaders comes before the error). */
    readonly headOk?: boolean;
    readonly opts?: Partial<H1LaneOptions>;
  }
  const big = 'x'.repeat(2_000);
  const cases: BadCase[] = [
    {
      name: 'both Content-Length and Transfer-Encoding',
      answer:
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    },
    {
      name: 'Transfer-Encoding before Content-Length',
      answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello',
    },
    {
      name: 'conflicting list Content-Length "5, 6"',
      answer: 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!',
    },
    {
      name: 'two Content-Length fields with different values',
      answer: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    },
    { name: 'a non-numeric Content-Length', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello' },
    { name: 'a negative Content-Length', answer: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello' },
    { name: 'an empty Content-Length', answer: 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n' },
    { name: 'status line HTTP/2 200', answer: 'HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok' },
    { name: 'status line ICY 200 OK', answer: 'ICY 200 OK\r\nContent-Length: 2\r\n\r\nok' },
    { name: 'a two-digit status', answer: 'HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok' },
    {
      name: 'a header line without a colon',
      answer: 'HTTP/1.1 200 OK\r\nX-Broken\r\nContent-Length: 2\r\n\r\nok',
    },
    {
      name: 'obs-fold (a continuation line starting with a space)',
      answer: 'HTTP/1.1 200 OK\r\nX-A: a\r\n  folded: value\r\nContent-Length: 2\r\n\r\nok',
    },
    {
      name: 'obs-fold with a tab',
      answer: 'HTTP/1.1 200 OK\r\nX-A: a\r\n\tfolded\r\nContent-Length: 2\r\n\r\nok',
    },
    {
      name: 'whitespace between a field name and its colon',
      answer: 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok',
    },
    {
      name: 'a bare CR inside a field value',
      answer: 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok',
    },
    {
      name: 'a bare LF inside the head (a smuggled field)',
      answer: 'HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 7\r\nContent-Length: 2\r\n\r\nok',
    },
    { name: 'a NUL in a field value', answer: 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok' },
    {
      name: 'Transfer-Encoding: gzip, chunked',
      answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    },
    {
      name: 'two Transfer-Encoding: chunked fields',
      answer:
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    },
    {
      name: 'a bad chunk size "zz"',
      answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
      headOk: true,
    },
    {
      name: 'a negative chunk size',
      answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n',
      headOk: true,
    },
    {
      name: 'chunk data longer than its declared size',
      answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloEXTRA\r\n0\r\n\r\n',
      headOk: true,
    },
    {
      name: 'chunk data longer than its size, arriving in pieces',
      answer: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel', 'lo', 'X', '\r\n0\r\n\r\n'],
      headOk: true,
    },
    {
      name: 'a trailer line without a colon',
      answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nnot a trailer\r\n\r\n',
      headOk: true,
    },
    {
      name: 'a chunk-size line longer than any sane one, never ended',
      answer: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;${'e'.repeat(10_000)}`,
      headOk: true,
    },
    {
      name: 'a response head larger than maxHeaderSize (complete)',
      answer: `HTTP/1.1 200 OK\r\nX-Big: ${big}\r\nContent-Length: 2\r\n\r\nok`,
      opts: { maxHeaderSize: 1_024 },
    },
    {
      // Must fail as soon as the limit is passed, not wait for the head's end (or the headers timeout).
      name: 'a response head larger than maxHeaderSize that never ends',
      answer: [`HTTP/1.1 200 OK\r\nX-Big: ${big.slice(0, 600)}`, big.slice(0, 600), big.slice(0, 600)],
      opts: { maxHeaderSize: 1_024 },
    },
    {
      name: 'an unasked 101 Switching Protocols',
      answer: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    },
  ];

  it.each(cases)('$name', async (c) => {
    const up = await rawUpstream((conn) => {
      if (conn.id > 0) {
        conn.socket.write(ok('recovered'));
        return;
      }
      if (typeof c.answer === 'string') {
        conn.socket.write(c.answer, 'latin1');
        return;
      }
      const parts = [...c.answer];
      const next = (): void => {
        const part = parts.shift();
        if (part === undefined || conn.socket.destroyed) return;
        conn.socket.write(part, 'latin1');
        setTimeout(next, 15);
      };
      next();
    });
    const lane = makeLane(up.port, c.opts);
    const rec = start(lane, get('/bad'));
    const out = await rec.done;
    expect(out.error?.code).toBe('TOLLGATE_UPSTREAM_PROTOCOL');
    expect(rec.statuses).toEqual(c.headOk === true ? [200] : []);
    expect(await closedWithin(up.conns[0])).toBe(true);
    expect(await waitFor(() => lane.sockets.active === 0 && lane.sockets.idle === 0)).toBe(true);

    expect(await text(lane, get('/good'))).toBe('recovered');
    expect(up.conns).toHaveLength(2);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane socket reuse rules', () => {
  it('closes a socket on which the upstream sent more bytes than one answer (two answers in one write)', async () => {
    const up = await rawUpstream((conn) => {
      if (conn.id === 0) conn.socket.write(ok('one') + ok('two'));
      else conn.socket.write(ok(`conn ${conn.id}`));
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('one');
    expect(await text(lane, get('/'))).toBe('conn 1');
    expect(up.conns).toHaveLength(2);
    expect(await closedWithin(up.conns[0])).toBe(true);
  });

  it('a request dispatched from inside onComplete never takes the stray bytes that followed the answer as its own', async () => {
    // The proxy's retry dispatches from onComplete: the socket must not be handed out before the lane has
    // seen what followed the answer in the same read.
    const strayAfter = [
      ok('one') + ok('stray'),
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray',
      `HTTP/1.1 204 No Content\r\n\r\n${ok('stray')}`,
    ];
    let outers = 0;
    const up = await rawUpstream((conn, head) => {
      if (head.startsWith('GET /outer')) conn.socket.write(strayAfter[outers++]!);
      else conn.socket.write(ok(`inner on conn ${conn.id}`));
    });
    const lane = makeLane(up.port);
    const inner: Recorder[] = [];
    const chain = (rec: Recorder): void => {
      inner.push(start(lane, get('/inner')));
      expect(rec.error).toBeNull();
    };
    for (const expected of ['one', 'two', '']) {
      const out = await run(lane, get('/outer'), { onComplete: chain });
      expect(out.body.toString()).toBe(expected);
      const next = await inner.at(-1)!.done;
      expect(next.error).toBeNull();
      expect(next.body.toString()).not.toBe('stray');
    }
    // Each socket that carried stray bytes was closed, never handed to the inner request: one socket per
    // outer answer, plus the last inner's (the others were reused by the next outer request).
    expect(inner.map((r) => r.body.toString())).toEqual([
      'inner on conn 1',
      'inner on conn 2',
      'inner on conn 3',
    ]);
    expect(up.conns).toHaveLength(4);
  });

  it('closes a socket whose chunked answer is followed by stray bytes, and a HEAD answer followed by a body', async () => {
    const up = await rawUpstream((conn, head) => {
      if (conn.id === 0)
        conn.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nJUNK');
      else if (conn.id === 1) conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
      else conn.socket.write(ok(head.split(' ')[0]!));
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('ok');
    const h = await run(lane, { path: '/', method: 'HEAD', headers: [] });
    expect(h.error).toBeNull();
    expect(h.body.length).toBe(0);
    expect(await text(lane, get('/'))).toBe('GET');
    expect(up.conns).toHaveLength(3);
    expect(await closedWithin(up.conns[0])).toBe(true);
    expect(await closedWithin(up.conns[1])).toBe(true);
  });

  it('closes an idle socket on which unasked bytes arrive', async () => {
    const up = await rawUpstream((conn) => {
      conn.socket.write(ok(`conn ${conn.id}`));
      if (conn.id === 0) setTimeout(() => conn.socket.write(ok('unasked')), 30);
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('conn 0');
    expect(await closedWithin(up.conns[0])).toBe(true);
    expect(await waitFor(() => lane.sockets.idle === 0)).toBe(true);
    expect(await text(lane, get('/'))).toBe('conn 1');
  });

  it('does not reuse a socket after Connection: close (the lane closes it) or after an HTTP/1.0 answer', async () => {
    const up = await rawUpstream((conn) => {
      if (conn.id === 0) conn.socket.write(ok('closing', 'Connection: close\r\n'));
      else if (conn.id === 1) conn.socket.write(ok('list', 'Connection: Keep-Alive, Close\r\n'));
      else if (conn.id === 2) conn.socket.write('HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold!');
      else conn.socket.write(ok(`conn ${conn.id}`));
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('closing');
    expect(await text(lane, get('/'))).toBe('list');
    expect(await text(lane, get('/'))).toBe('old!');
    expect(await text(lane, get('/'))).toBe('conn 3');
    expect(up.conns).toHaveLength(4);
    // The upstream did not close any of these itself.
    for (const c of up.conns.slice(0, 3)) expect(await closedWithin(c)).toBe(true);
    expect(up.conns[3]!.closed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane stale keep-alive sockets', () => {
  it('a GET after the upstream closed its idle socket succeeds on a new socket', async () => {
    const up = await rawUpstream((conn) => {
      conn.socket.write(ok(`conn ${conn.id}`));
      if (conn.id === 0) setTimeout(() => conn.socket.end(), 10);
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('conn 0');
    expect(await closedWithin(up.conns[0])).toBe(true);
    // Dispatched at once: whether or not the lane has noticed yet, the GET must succeed.
    expect(await text(lane, get('/'))).toBe('conn 1');
    expect(up.conns).toHaveLength(2);
  });

  it('a GET whose reused socket closes before any answer byte is sent again, transparently, on a new socket', async () => {
    const up = await rawUpstream((conn, _head, n) => {
      if (conn.id === 0 && n === 1)
        conn.socket.destroy(); // the upstream's idle timeout raced the request
      else conn.socket.write(ok(`conn ${conn.id} #${n}`));
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/x'))).toBe('conn 0 #0');
    const rec = start(lane, get('/retry', { headers: ['x-id', '7'] }));
    const out = await rec.done;
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('conn 1 #0');
    expect(up.conns).toHaveLength(2);
    // The very same request went out again.
    expect(up.conns[1]!.heads[0]).toBe(up.conns[0]!.heads[1]);
  });

  it('a POST whose reused socket closes before any answer fails with UND_ERR_SOCKET and is not sent again', async () => {
    const up = await rawUpstream((conn, _head, n) => {
      if (conn.id === 0 && n === 1) conn.socket.destroy();
      else conn.socket.write(ok(`conn ${conn.id} #${n}`));
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/x'))).toBe('conn 0 #0');
    const out = await run(lane, { path: '/post', method: 'POST', headers: ['content-length', '0'] });
    expect(out.error?.code).toBe('UND_ERR_SOCKET');
    expect(out.status).toBeNull();
    await sleep(100);
    expect(up.conns).toHaveLength(1);
    expect(up.heads.filter((h) => h.startsWith('POST'))).toHaveLength(1);
  });

  it('the retry happens once: a GET whose fresh socket also closes before answering fails', async () => {
    const up = await rawUpstream((conn, _head, n) => {
      if (conn.id === 0 && n === 0) conn.socket.write(ok('first'));
      else conn.socket.destroy();
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('first');
    const out = await run(lane, get('/'));
    expect(out.error?.code).toBe('UND_ERR_SOCKET');
    await sleep(100);
    expect(up.conns).toHaveLength(2);
  });

  it('a GET on a reused socket that closes after part of the head is not retried (the answer had begun)', async () => {
    const up = await rawUpstream((conn, _head, n) => {
      if (n === 0) conn.socket.write(ok('first'));
      else conn.socket.end('HTTP/1.1 200 OK\r\nContent-Le');
    });
    const lane = makeLane(up.port);
    expect(await text(lane, get('/'))).toBe('first');
    const out = await run(lane, get('/'));
    expect(out.error?.code).toBe('UND_ERR_SOCKET');
    await sleep(100);
    expect(up.conns).toHaveLength(1);
  });

  it('a Content-Length or chunked body cut short by the upstream fails (it never looks complete)', async () => {
    const up = await rawUpstream((conn, head) => {
      if (head.startsWith('GET /cl'))
        conn.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part');
      else conn.socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    });
    const lane = makeLane(up.port);
    const a = await run(lane, get('/cl'));
    expect(a.error?.code).toBe('UND_ERR_SOCKET');
    expect(a.body.toString()).toBe('only a part');
    const b = await run(lane, get('/chunked'));
    expect(b.error?.code).toBe('UND_ERR_SOCKET');
    expect(b.body.toString()).toBe('hello');
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane timeouts and connection failures', () => {
  it('fails with UND_ERR_HEADERS_TIMEOUT when no head comes in time, and closes the socket', async () => {
    const up = await rawUpstream(() => {});
    const lane = makeLane(up.port, { headersTimeout: 150 });
    const out = await run(lane, get('/silent'));
    expect(out.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(await closedWithin(up.conns[0])).toBe(true);
  });

  it('fails with UND_ERR_HEADERS_TIMEOUT when only part of the head comes', async () => {
    const up = await rawUpstream((conn) => conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'));
    const lane = makeLane(up.port, { headersTimeout: 150 });
    const out = await run(lane, get('/half'));
    expect(out.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(await closedWithin(up.conns[0])).toBe(true);
  });

  it("honours a request's own headersTimeout below the lane's", async () => {
    const up = await rawUpstream(() => {});
    const lane = makeLane(up.port);
    const out = await run(lane, get('/silent', { headersTimeout: 150 }));
    expect(out.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
  });

  it('fails with UND_ERR_BODY_TIMEOUT when the body stalls, after delivering what came', async () => {
    const up = await rawUpstream((conn) =>
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
    );
    const lane = makeLane(up.port, { bodyTimeout: 150 });
    const rec = start(lane, get('/stall'));
    const out = await rec.done;
    expect(out.error?.code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(rec.statuses).toEqual([200]);
    expect(out.body.toString()).toBe('abc');
    expect(await closedWithin(up.conns[0])).toBe(true);
  });

  it('fails with UND_ERR_BODY_TIMEOUT on a stalled chunked body and a per-request bodyTimeout', async () => {
    const up = await rawUpstream((conn) =>
      conn.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'),
    );
    const lane = makeLane(up.port);
    const out = await run(lane, get('/stall', { bodyTimeout: 150 }));
    expect(out.error?.code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(out.body.toString()).toBe('abc');
  });

  it('bodyTimeout bounds the silence between body bytes, not the whole body', async () => {
    const pieces = 30;
    const up = await rawUpstream((conn) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${pieces}\r\n\r\n`);
      let sent = 0;
      const t = setInterval(() => {
        if (conn.socket.destroyed || sent === pieces) {
          clearInterval(t);
          return;
        }
        conn.socket.write('.');
        sent++;
      }, 25);
    });
    // The whole body takes about 750 ms, longer than the 500 ms body timeout; no gap comes near it.
    const lane = makeLane(up.port, { bodyTimeout: 500, headersTimeout: 2_000 });
    const out = await run(lane, get('/trickle'));
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('.'.repeat(pieces));
  });

  it('reports ECONNREFUSED for a port nobody listens on, and keeps no socket', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const lane = makeLane(port);
    const out = await run(lane, get('/'));
    expect(out.error?.code).toBe('ECONNREFUSED');
    expect(lane.sockets).toEqual({ active: 0, idle: 0 });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane back-pressure', () => {
  it('onData returning false stops onData until resume(), with no body timeout while paused (Content-Length)', async () => {
    let sendRest: (() => void) | null = null;
    const up = await rawUpstream((conn, _head, n) => {
      if (n > 0) {
        conn.socket.write(ok('reused'));
        return;
      }
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nfirst');
      sendRest = () => {
        conn.socket.write('-sec');
        setTimeout(() => conn.socket.write('ond-end'), 20);
      };
    });
    const bodyTimeout = 150;
    const lane = makeLane(up.port, { bodyTimeout });
    let calls = 0;
    const rec = start(lane, get('/slow-client'), {
      onData() {
        calls++;
        if (calls === 1) {
          sendRest?.();
          return false;
        }
        return true;
      },
    });
    expect(await waitFor(() => calls === 1)).toBe(true);
    await sleep(bodyTimeout * 4);
    expect(rec.events).toEqual(['connect', 'headers', 'data']);
    rec.resume!();
    const out = await rec.done;
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('first-second-end');
    expect(await text(lane, get('/'))).toBe('reused');
    expect(up.conns).toHaveLength(1);
  });

  it('onData returning false on a chunked body stops onData until resume(), the rest arriving later', async () => {
    let sendRest: (() => void) | null = null;
    const up = await rawUpstream((conn) => {
      conn.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n');
      sendRest = () => conn.socket.write('6\r\nsecond\r\n0\r\n\r\n');
    });
    const bodyTimeout = 150;
    const lane = makeLane(up.port, { bodyTimeout });
    const rec = start(lane, get('/'), {
      onData(_c, r) {
        if (r.chunks.length === 1) {
          sendRest?.();
          return false;
        }
        return true;
      },
    });
    expect(await waitFor(() => rec.chunks.length === 1)).toBe(true);
    await sleep(bodyTimeout * 4);
    expect(rec.events).toEqual(['connect', 'headers', 'data']);
    rec.resume!();
    const out = await rec.done;
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('firstsecond');
  });

  it('onHeaders returning false holds the body (sent later) until resume()', async () => {
    let sendBody: (() => void) | null = null;
    const up = await rawUpstream((conn) => {
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
      sendBody = () => conn.socket.write('body');
    });
    const lane = makeLane(up.port, { bodyTimeout: 150 });
    const rec = start(lane, get('/'), {
      onHeaders() {
        sendBody?.();
        return false;
      },
    });
    expect(await waitFor(() => rec.statuses.length === 1)).toBe(true);
    await sleep(600);
    expect(rec.events).toEqual(['connect', 'headers']);
    rec.resume!();
    const out = await rec.done;
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('body');
  });

  // Several chunks in one socket read: after onData returns false the rest waits (stashed) until resume.
  it('onData returning false stops onData even when more chunks came in the same socket read', async () => {
    const up = await rawUpstream((conn) =>
      conn.socket.write(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n6\r\nsecond\r\n5\r\nthird\r\n0\r\n\r\n',
      ),
    );
    const lane = makeLane(up.port, { bodyTimeout: 150 });
    const rec = start(lane, get('/'), { onData: (_c, r) => r.chunks.length > 1 });
    expect(await waitFor(() => rec.chunks.length >= 1)).toBe(true);
    await sleep(100);
    expect(rec.events).toEqual(['connect', 'headers', 'data']);
    rec.resume!();
    const out = await rec.done;
    expect(out.body.toString()).toBe('firstsecondthird');
  });

  // A body in the head's socket read waits when onHeaders returned false.
  it('onHeaders returning false holds a body that came in the same socket read as the head', async () => {
    const up = await rawUpstream((conn) =>
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody'),
    );
    const lane = makeLane(up.port, { bodyTimeout: 150 });
    const rec = start(lane, get('/'), { onHeaders: () => false });
    expect(await waitFor(() => rec.statuses.length === 1)).toBe(true);
    await sleep(100);
    expect(rec.events).toEqual(['connect', 'headers']);
    rec.resume!();
    const out = await rec.done;
    expect(out.body.toString()).toBe('body');
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane abort', () => {
  it('abort(reason) mid-body: onError(reason) exactly once, no onData after it, the upstream sees the close', async () => {
    const up = await rawUpstream((conn) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(100)}`);
      const t = setInterval(() => {
        if (conn.socket.destroyed) clearInterval(t);
        else conn.socket.write('b'.repeat(10));
      }, 10);
    });
    const lane = makeLane(up.port);
    const reason = new Error('client went away');
    let abortedAt = -1;
    const rec = start(lane, get('/long'), {
      onData(_c, r) {
        if (r.chunks.length === 1) {
          setTimeout(() => {
            abortedAt = r.events.length;
            r.abort!(reason);
          }, 30);
        }
        return true;
      },
    });
    const out = await rec.done;
    expect(out.error).toBe(reason);
    expect(await closedWithin(up.conns[0])).toBe(true);
    await sleep(50);
    expect(rec.events.slice(abortedAt)).toEqual(['error']);
    expect(rec.events.filter((e) => e === 'error')).toHaveLength(1);
    expect(lane.sockets).toEqual({ active: 0, idle: 0 });
    // Calling abort again after the end does nothing.
    rec.abort!(new Error('again'));
    await sleep(20);
    expect(rec.events.filter((e) => e === 'error')).toHaveLength(1);
  });

  it('abort() from inside onData stops delivery at once; without a reason the error is UND_ERR_ABORTED', async () => {
    const up = await rawUpstream((conn) => {
      conn.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n3\r\ntwo\r\n');
    });
    const lane = makeLane(up.port);
    const rec = start(lane, get('/'), {
      onData(_c, r) {
        r.abort!();
        return true;
      },
    });
    const out = await rec.done;
    expect(out.error?.code).toBe('UND_ERR_ABORTED');
    expect(rec.events).toEqual(['connect', 'headers', 'data', 'error']);
    expect(await closedWithin(up.conns[0])).toBe(true);
  });

  it('abort() inside onConnect fails the exchange and sends nothing upstream', async () => {
    const up = await rawUpstream(echoPath);
    const lane = makeLane(up.port);
    const reason = new Error('gone before connect');
    const rec = start(lane, get('/never'), { onConnect: (abort) => abort(reason) });
    const out = await rec.done;
    expect(out.error).toBe(reason);
    await sleep(100);
    expect(up.heads).toEqual([]);
    expect(await text(lane, get('/after'))).toBe('/after');
  });

  it('abort() before the head arrives fails the exchange and closes the socket', async () => {
    const up = await rawUpstream(() => {});
    const lane = makeLane(up.port);
    const reason = new Error('cancelled');
    const rec = start(lane, get('/'));
    expect(await waitFor(() => up.heads.length === 1)).toBe(true);
    rec.abort!(reason);
    const out = await rec.done;
    expect(out.error).toBe(reason);
    expect(rec.statuses).toEqual([]);
    expect(await closedWithin(up.conns[0])).toBe(true);
  });

  it('an abort from a completed exchange does not touch the next exchange on the same socket', async () => {
    let release: (() => void) | null = null;
    const up = await rawUpstream((conn, _head, n) => {
      if (n === 0) conn.socket.write(ok('one'));
      else release = () => conn.socket.write(ok('two'));
    });
    const lane = makeLane(up.port);
    const first = start(lane, get('/'));
    expect((await first.done).error).toBeNull();
    const second = start(lane, get('/'));
    expect(await waitFor(() => release !== null)).toBe(true);
    first.abort!(new Error('stale abort'));
    (release as (() => void) | null)?.();
    const out = await second.done;
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('two');
    expect(up.conns).toHaveLength(1);
  });

  it('a throwing onHeaders or onData fails the exchange with the thrown error and closes the socket', async () => {
    const up = await rawUpstream((conn) => conn.socket.write(ok('body')));
    const lane = makeLane(up.port);
    const boom = new Error('onHeaders threw');
    const a = await run(lane, get('/'), {
      onHeaders() {
        throw boom;
      },
    });
    expect(a.error).toBe(boom);
    const bang = new Error('onData threw');
    const b = await run(lane, get('/'), {
      onData() {
        throw bang;
      },
    });
    expect(b.error).toBe(bang);
    expect(await closedWithin(up.conns[0])).toBe(true);
    expect(await closedWithin(up.conns[1])).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('H1Lane idle sockets, validation, concurrency, close', () => {
  it('closes idle sockets after keepAliveTimeout', async () => {
    const up = await rawUpstream(echoPath);
    const lane = makeLane(up.port, { keepAliveTimeout: 200 });
    const [a, b] = await Promise.all([run(lane, get('/a')), run(lane, get('/b'))]);
    expect(a.error).toBeNull();
    expect(b.error).toBeNull();
    expect(up.conns).toHaveLength(2);
    expect(lane.sockets.active).toBe(0);
    expect(await closedWithin(up.conns[0])).toBe(true);
    expect(await closedWithin(up.conns[1])).toBe(true);
    expect(await waitFor(() => lane.sockets.idle === 0)).toBe(true);
    // The lane still works afterwards, on a new socket.
    expect(await text(lane, get('/c'))).toBe('/c');
    expect(up.conns).toHaveLength(3);
  });

  it('refuses a headers object with CR/LF/NUL in a value or a bad name, and any body, sending nothing', async () => {
    const up = await rawUpstream(echoPath);
    const lane = makeLane(up.port);
    const bad: LaneRequest[] = [
      { path: '/', method: 'GET', headers: { 'x-a': 'ok\r\nx-injected: 1' } },
      { path: '/', method: 'GET', headers: { 'x-a': 'line\nfeed' } },
      { path: '/', method: 'GET', headers: { 'x-a': ['fine', 'nul\0byte'] } },
      { path: '/', method: 'GET', headers: { 'bad name': 'v' } },
      { path: '/', method: 'GET', headers: { 'x-a:': 'v' } },
      { path: '/', method: 'GET', headers: [], body: 'a body' },
      { path: '/', method: 'POST', headers: [], body: Buffer.alloc(0) },
    ];
    for (const req of bad) {
      const out = await run(lane, req);
      expect(out.error?.code, JSON.stringify(req.headers)).toBe('UND_ERR_INVALID_ARG');
    }
    await sleep(100);
    expect(up.conns).toHaveLength(0);
    expect(lane.sockets).toEqual({ active: 0, idle: 0 });
    // A null or undefined body is fine.
    expect(await text(lane, { path: '/ok', method: 'GET', headers: {}, body: null })).toBe('/ok');
  });

  it('50 concurrent requests each get their own answer, over at most 50 sockets, reused by a second wave', async () => {
    let connections = 0;
    const server = http.createServer((req, res) => {
      const url = req.url ?? '';
      const n = Number(url.slice(url.lastIndexOf('/') + 1));
      res.setHeader('x-path', url);
      setTimeout(
        () => {
          if (n % 2 === 0) res.end(`path:${url}`);
          else {
            res.write('path:');
            setTimeout(() => res.end(url), 1);
          }
        },
        (n * 7) % 13,
      );
    });
    server.on('connection', () => connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const lane = makeLane((server.address() as AddressInfo).port);
    for (const wave of ['w1', 'w2']) {
      const outs = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          run(lane, get(`/${wave}/${i}`, { headers: ['x-n', String(i)] })),
        ),
      );
      outs.forEach((out, i) => {
        expect(out.error).toBeNull();
        expect(out.status).toBe(200);
        expect(out.body.toString()).toBe(`path:/${wave}/${i}`);
        const at = out.raw.findIndex((v, k) => k % 2 === 0 && v.toLowerCase() === 'x-path');
        expect(out.raw[at + 1]).toBe(`/${wave}/${i}`);
      });
    }
    expect(connections).toBeGreaterThan(0);
    expect(connections).toBeLessThanOrEqual(50);
  });

  it('after close(), dispatch fails with UND_ERR_DESTROYED and no socket stays open upstream', async () => {
    const up = await rawUpstream(echoPath);
    const lane = makeLane(up.port);
    await Promise.all([run(lane, get('/1')), run(lane, get('/2')), run(lane, get('/3'))]);
    expect(lane.sockets.idle).toBe(3);
    await lane.close();
    const out = await run(lane, get('/late'));
    expect(out.error?.code).toBe('UND_ERR_DESTROYED');
    for (const c of up.conns) expect(await closedWithin(c)).toBe(true);
    expect(lane.sockets).toEqual({ active: 0, idle: 0 });
    expect(up.heads.some((h) => h.includes('/late'))).toBe(false);
  });

  // close() waits for in-flight exchanges; one that completes meanwhile must not go back to the idle list.
  it('close() with an exchange in flight closes its socket once the exchange ends', async () => {
    const pending: { answer: (() => void) | null } = { answer: null };
    const up = await rawUpstream((conn) => {
      pending.answer = () => conn.socket.write(ok('late answer'));
    });
    const lane = makeLane(up.port);
    const rec = start(lane, get('/'));
    expect(await waitFor(() => pending.answer !== null)).toBe(true);
    const closing = lane.close();
    pending.answer!();
    const out = await rec.done;
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('late answer');
    await closing;
    expect(lane.sockets).toEqual({ active: 0, idle: 0 });
    expect(await closedWithin(up.conns[0], 2_000)).toBe(true);
  });
});

describe('H1Lane deadlines', () => {
  it('a deadline is never early, even when set right after the event loop stalled', async () => {
    const up = await rawUpstream((conn, head) => {
      if (head.startsWith('GET /slow')) setTimeout(() => conn.socket.write(ok('late')), 150);
      else conn.socket.write(ok('fast'));
    });
    const lane = makeLane(up.port, { headersTimeout: 600, bodyTimeout: 600 });
    expect((await run(lane, get('/fast'))).error).toBeNull(); // its idle socket keeps the sweep running
    const until = Date.now() + 2000;
    while (Date.now() < until) {} // a 2 s stall: a stale clock would put the next deadline in the past
    const out = await run(lane, get('/slow'));
    expect(out.error).toBeNull();
    expect(out.body.toString()).toBe('late');
  });
});

describe('H1Lane addresses', () => {
  it('connects to an IPv6 literal given as in a URL ([::1]) and sends the given Host', async (ctx) => {
    let seenHost = '';
    const server = http.createServer((req, res) => {
      seenHost = req.headers.host ?? '';
      res.end('over v6');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '::1', () => resolve());
      });
    } catch {
      ctx.skip(); // no IPv6 loopback on this machine: nothing to connect to
      return;
    }
    const port = (server.address() as AddressInfo).port;
    const lane = new H1Lane('[::1]', port, `[::1]:${port}`, DEFAULTS);
    lanes.push(lane);
    try {
      expect(await text(lane, get('/v6'))).toBe('over v6');
      expect(seenHost).toBe(`[::1]:${port}`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('H1Lane keep-alive hints', () => {
  it('does not keep a socket the upstream gives one second or less (Keep-Alive: timeout=1)', async () => {
    const up = await rawUpstream((conn) => conn.socket.write(ok('short', 'Keep-Alive: timeout=1\r\n')));
    const lane = makeLane(up.port);
    expect(await text(lane, get('/1'))).toBe('short');
    expect(await text(lane, get('/2'))).toBe('short');
    expect(up.conns.length).toBe(2);
  });

  it('idles a socket at most a second less than the upstream says (Keep-Alive: timeout=2)', async () => {
    const up = await rawUpstream((conn) =>
      conn.socket.write(ok('hinted', 'Keep-Alive: max=100, timeout=2\r\n')),
    );
    const lane = makeLane(up.port); // the lane's own idle limit (10 s) is longer than the hint
    expect(await text(lane, get('/1'))).toBe('hinted');
    expect(await text(lane, get('/2'))).toBe('hinted'); // at once: the same socket
    expect(up.conns.length).toBe(1);
    await new Promise((r) => setTimeout(r, 1_300)); // past 2 s − 1 s of idling
    expect(await text(lane, get('/3'))).toBe('hinted');
    expect(up.conns.length).toBe(2);
  });
});
