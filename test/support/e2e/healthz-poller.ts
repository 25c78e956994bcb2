// Runs inside the balancer's network namespace (cold-start bench and test):
// asks the agent's /healthz over and over (a new request as soon as the last
// one answered, at most one every 10 ms) and prints one JSON line per answer:
// wall-clock time sent, latency, HTTP status (0 = no answer yet: not
// listening). The caller reads the lines to see how /healthz answered while
// the agent started. Stops on SIGTERM.
//
//   node test/support/e2e/healthz-poller.ts http://127.0.0.1:9464/healthz
import { request } from 'node:http';

const url = process.argv[2] ?? 'http://127.0.0.1:9464/healthz';
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

function once(): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

while (!stopping) {
  const at = Date.now();
  const started = performance.now();
  const status = await once();
  const ms = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ at, ms: Math.round(ms * 10) / 10, status })}\n`);
  await new Promise((r) => setTimeout(r, Math.max(0, 10 - ms)));
}
