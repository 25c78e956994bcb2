// A fake Kubernetes API server on loopback for unit tests of the kube
// adapter, with a kubeconfig (bearer token) that points a KubeClient at it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/client.ts';

export interface FakeApiServer {
  readonly client: KubeClient;
  close(): Promise<void>;
}

/** Serves every request with `handler`; the client authenticates with `token`. */
export async function startFakeApiServer(handler: http.RequestListener, token: string): Promise<FakeApiServer> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'fake-api-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${String(port)}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: ${token}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`);
  return {
    client: KubeClient.create({ kubeconfig }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
