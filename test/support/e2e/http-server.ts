// A backend's HTTP server, run as its own process inside the backend
// namespace: `node http-server.ts --name backend-1 [--port 80]`. Every answer
// is `200` with the body `<name>\n`, so the client learns which backend served
// it. Keep-alive connections stay open for as long as the client wants (the
// long-lived connection tests hold them across backend changes). SIGUSR1
// stops listening while established connections keep being served (a server
// whose listener died); SIGUSR2 listens again.
import { createServer } from 'node:http';
import { Server as NetServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    port: { type: 'string', default: '80' },
    host: { type: 'string', default: '::' }, // dual stack: IPv4 and IPv6 VIPs
  },
});
const name = values.name;
if (name === undefined || name === '') {
  process.stderr.write('http-server: --name is required\n');
  process.exit(2);
}
const body = Buffer.from(`${name}\n`);
let served = 0;

const server = createServer((request, response) => {
  served++;
  request.resume();
  response.writeHead(200, {
    'content-type': 'text/plain',
    'content-length': String(body.length),
    'x-backend': name,
  });
  response.end(body);
});
// Long-lived connection tests hold idle keep-alive sockets for minutes.
server.keepAliveTimeout = 600_000;
server.headersTimeout = 60_000;
server.requestTimeout = 0;

const listen = (): void => {
  server.listen(Number(values.port), values.host, () => {
    process.stdout.write(`listening ${name} ${values.host}:${values.port}\n`);
  });
};
listen();

// net.Server's close, not http.Server's: that one also closes idle keep-alive connections.
// Its callback waits for every connection to end; the listening socket itself is closed at once.
// The timer keeps the process alive while nothing listens and no connection is open.
setInterval(() => undefined, 1 << 30);
process.on('SIGUSR1', () => {
  NetServer.prototype.close.call(server);
  process.stdout.write(`not listening ${name}\n`);
});
process.on('SIGUSR2', listen);

function shutdown(): void {
  process.stdout.write(`stopping ${name} served=${String(served)}\n`);
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
