// Reference row of the gateway benchmark, not a proxy anyone should run: the least a Node.js process
// can do between wrk and the upstream. Raw `node:net` sockets both ways; a request is its bytes up to the
// blank line (Host swapped by one regular expression), relayed on a pooled keep-alive upstream socket; an
// answer is its head plus Content-Length bytes, relayed back unread. No HTTP parser, no header objects,
// no validation, no chunked bodies, no timeouts, no error answers: everything a real proxy must do is
// missing. What it shows is how much latency and CPU a Node process adds on this machine before any
// proxy work at all — the floor under the bare proxy and under Tollgate.
// Usage: UPSTREAM=http://127.0.0.1:PORT node bench/floor-relay.mjs
import net from 'node:net';

const origin = process.env.UPSTREAM;
if (!origin) {
  console.error('UPSTREAM=http://host:port is required');
  process.exit(2);
}
const up = new URL(origin);
const hostLine = `\r\nHost: ${up.host}`;
const HOST_FIELD = /\r\nhost:[^\r]*/i;
const LENGTH_FIELD = /\r\ncontent-length:\s*(\d+)/i;
/** Idle upstream sockets. */
const idle = [];

function upstreamSocket() {
  const s = idle.pop();
  if (s !== undefined) return s;
  const c = net.connect(Number(up.port), up.hostname);
  c.setNoDelay(true);
  c.inbox = '';
  c.client = null;
  c.on('data', onUpstreamData);
  c.on('error', noop);
  c.on('close', onUpstreamClose);
  return c;
}

/** The upstream closed a socket (its keep-alive timeout between rounds): forget it, drop its client. */
function onUpstreamClose() {
  const i = idle.indexOf(this);
  if (i >= 0) idle.splice(i, 1);
  this.client?.destroy();
  this.client = null;
}

/** An upstream socket's bytes: once a whole answer is in, it goes to the client that asked. */
function onUpstreamData(chunk) {
  this.inbox += chunk.latin1Slice(0, chunk.length);
  const end = this.inbox.indexOf('\r\n\r\n');
  if (end < 0) return;
  const m = LENGTH_FIELD.exec(this.inbox.slice(0, end));
  const size = end + 4 + (m === null ? 0 : Number(m[1]));
  if (this.inbox.length < size) return;
  const answer = this.inbox.slice(0, size);
  this.inbox = this.inbox.slice(size);
  const client = this.client;
  this.client = null;
  idle.push(this);
  client.busy = false;
  client.write(answer, 'latin1');
  if (client.inbox.length > 0) forward(client);
}

function onClientData(chunk) {
  this.inbox += chunk.latin1Slice(0, chunk.length);
  if (!this.busy) forward(this);
}

/** Sends the client's next whole request head upstream (one at a time per client connection). */
function forward(client) {
  const end = client.inbox.indexOf('\r\n\r\n');
  if (end < 0) return;
  const head = client.inbox.slice(0, end + 4);
  client.inbox = client.inbox.slice(end + 4);
  const s = upstreamSocket();
  s.client = client;
  client.busy = true;
  s.write(head.replace(HOST_FIELD, hostLine), 'latin1');
}

function noop() {}

const server = net.createServer((client) => {
  client.setNoDelay(true);
  client.inbox = '';
  client.busy = false;
  client.on('data', onClientData);
  client.on('error', noop);
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', role: 'floor-relay', port: server.address().port }));
});
process.on('SIGTERM', () => process.exit(0));
