/** Test fixture: the proxy alone behind node:http (route by Host and path, no auth): what the proxy suite drives. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type ForwardHooks,
  GATEWAY_ERRORS,
  sendGatewayError,
  type UpstreamProxy,
} from '../../src/gateway/proxy.js';
import type { Route, Router } from '../../src/gateway/router.js';

export interface GatewayHandlerOptions {
  /** The router of the current config version; swap it with `setRouter` when a new one is compiled. */
  readonly router: Router;
  readonly proxy: UpstreamProxy;
  /** Answers requests no service claims; default 404 `{code:'no_route'}`. */
  readonly onNoRoute?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Per-route stage hooks (policies, usage recording); looked up once per request. */
  readonly hooksFor?: (route: Route) => ForwardHooks | undefined;
}

/** Both listeners are plain functions (no `this`): `http.createServer(h.request)`, `server.on('upgrade', h.upgrade)`. */
export interface GatewayHandler {
  readonly request: (req: IncomingMessage, res: ServerResponse) => void;
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Installs the router of a new config version; requests already routed keep their route. */
  setRouter(router: Router): void;
}

const NO_ROUTE_HEAD =
  'HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ';

function ignore(): void {}

export function createGatewayHandler(opts: GatewayHandlerOptions): GatewayHandler {
  let router = opts.router;
  const { proxy, hooksFor } = opts;
  const onNoRoute = opts.onNoRoute ?? ((_req, res) => sendGatewayError(res, 'no_route'));

  return {
    request(req, res) {
      const url = req.url ?? '/';
      // Origin-form only (RFC 9112 §3.2.1); absolute-form is for forward proxies, which we are not.
      if (url.charCodeAt(0) !== 47 /* / */) {
        sendGatewayError(res, 'bad_request');
        return;
      }
      const route = router.match(req.headers.host, url);
      if (route === null) {
        onNoRoute(req, res);
        return;
      }
      proxy.forward(req, res, route, hooksFor?.(route));
    },

    upgrade(req, socket, head) {
      const url = req.url ?? '/';
      const route = url.charCodeAt(0) === 47 ? router.match(req.headers.host, url) : null;
      if (route === null) {
        socket.on('error', ignore); // the peer may already be gone; node left no listener after 'upgrade'
        const body = JSON.stringify({ code: 'no_route', message: GATEWAY_ERRORS.no_route.message });
        socket.end(`${NO_ROUTE_HEAD}${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return;
      }
      proxy.upgrade(req, socket, head, route, hooksFor?.(route));
    },

    setRouter(next) {
      router = next;
    },
  };
}
