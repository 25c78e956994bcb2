// The API server on the host's loopback, made reachable inside a network
// namespace: a forwarder there listens on 127.0.0.1:<API port> and relays to
// a Unix socket (which crosses namespaces) that a host-side Proxy serves.
import { join } from 'node:path';
import type { ManagedProcess } from '../e2e/processes.ts';
import type { Topology } from '../e2e/topology.ts';
import { NODE_BIN, REPO_ROOT } from '../exec.ts';

/** Runs a forwarder inside `netns`: 127.0.0.1:<port> there -> the Unix socket -> the API server. */
export function bridgeInto(t: Topology, netns: string, socket: string, port: number): ManagedProcess {
  return t.processes.start([NODE_BIN, join(REPO_ROOT, 'test/support/kube/proxy.ts'), `127.0.0.1:${port}`, socket], {
    name: `api-bridge ${netns}`, netns, logFile: join(t.scratch, `api-bridge-${netns}.log`),
  });
}
