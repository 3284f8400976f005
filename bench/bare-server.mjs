// Baseline of the backend benchmark: a bare node:http server answering a fixed 200 XML body.
import http from 'node:http';

const body =
  '<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>Basic</plan></status>';
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/vnd.3scale-v2.0+xml' });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', role: 'bare', port: server.address().port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
