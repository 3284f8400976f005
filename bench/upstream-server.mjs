// Upstream of the gateway benchmark: a node:http server answering every request with the same small
// JSON body, headers prebuilt once. Everything in bench:gateway (direct, nginx, bare proxy, Tollgate)
// ends here, so the only difference between two targets is what sits in front of this server.
import http from 'node:http';

const body = Buffer.from('{"id":42,"name":"bench item","price":"9.99","tags":["a","b"],"in_stock":true}');
const headers = ['content-type', 'application/json', 'content-length', String(body.length)];
const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === 'GET' || req.method === 'HEAD') {
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  // Requests with a body: drain it, then answer the same.
  req.on('data', noop);
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(body);
  });
});
function noop() {}
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', role: 'upstream', port: server.address().port }));
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
