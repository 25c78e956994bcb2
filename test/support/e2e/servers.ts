// Starts each backend's HTTP server (http-server.ts) inside its namespace and
// waits until it listens, so traffic never races the server start.
import { join } from 'node:path';
import { TRAFFIC_CPUS } from './addressing.ts';
import { NODE_BIN } from '../exec.ts';
import type { ManagedProcess } from './processes.ts';
import type { BackendNode, Topology } from './topology.ts';

const SERVER = join(import.meta.dirname, 'http-server.ts');

export async function startHttpServer(topology: Topology, backend: BackendNode, port = 80): Promise<ManagedProcess> {
  const proc = topology.processes.start([NODE_BIN, SERVER, '--name', backend.name, '--port', String(port)], {
    name: `http-${backend.name}:${String(port)}`,
    netns: backend.netns,
    logFile: join(topology.scratch, `http-${backend.name}-${String(port)}.log`),
    cpus: TRAFFIC_CPUS,
  });
  await proc.waitForLine(/^listening /, { what: 'its listening line' });
  return proc;
}

export async function startHttpServers(topology: Topology, backends: readonly BackendNode[], port = 80): Promise<ManagedProcess[]> {
  return Promise.all(backends.map((backend) => startHttpServer(topology, backend, port)));
}
