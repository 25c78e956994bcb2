// Typed handle on stream-runner.ts (long-lived connections, a request every
// 100 ms on each) running in the client namespace.
import { join } from 'node:path';
import { z } from 'zod';
import { TRAFFIC_CPUS } from './addressing.ts';
import { NODE_BIN } from '../exec.ts';
import type { ManagedProcess } from './processes.ts';
import type { Topology } from './topology.ts';

const RUNNER = join(import.meta.dirname, 'stream-runner.ts');

export const StreamStats = z.object({
  connections: z.number(),
  established: z.number(),
  answering: z.number(),
  /** Connections (not broken) that answered since the last mark. */
  answeredSinceMark: z.number(),
  broken: z.number(),
  reasons: z.record(z.string(), z.number()),
  backendChanges: z.number(),
  answers: z.number(),
  maxStallMs: z.number(),
  byBackend: z.record(z.string(), z.number()),
  /** Connections (not broken) with a gap of more than 1 s between answers since the last mark. */
  stalledOver1s: z.number(),
  /** Request latency (sent to answered, ms) since the last mark. */
  latency: z.object({ requests: z.number(), p50Ms: z.number(), p99Ms: z.number(), maxMs: z.number() }),
  localPorts: z.array(z.number()),
});
export type StreamStats = z.infer<typeof StreamStats>;

export class StreamClient {
  private readonly proc: ManagedProcess;

  private constructor(proc: ManagedProcess) {
    this.proc = proc;
  }

  /** `spread`: requests staggered over the interval instead of all connections at once (latency figures); `cpus` default TRAFFIC_CPUS. */
  static async start(topology: Topology, count: number, options: { intervalMs?: number; spread?: boolean; cpus?: string } = {}): Promise<StreamClient> {
    const interval = [...(options.intervalMs === undefined ? [] : ['--interval-ms', String(options.intervalMs)]), ...(options.spread === true ? ['--spread'] : [])];
    const proc = topology.processes.start([NODE_BIN, RUNNER, '--host', topology.vip, '--port', '80', '--count', String(count), ...interval], {
      name: 'stream-runner',
      netns: topology.client.netns,
      logFile: join(topology.scratch, 'stream-runner.log'),
      stdin: true,
      cpus: options.cpus ?? TRAFFIC_CPUS,
    });
    await proc.waitForLine(/^started$/, { what: 'its started line' });
    return new StreamClient(proc);
  }

  stats(): Promise<StreamStats> {
    return this.call('stats');
  }

  /** Resets every connection's longest gap and the latencies: the next stats() reports since now. */
  async mark(): Promise<void> {
    await this.call('mark');
  }

  /** Closes every connection; the runner exits. */
  async stop(): Promise<StreamStats> {
    const final = await this.call('stop');
    await this.proc.exited;
    return final;
  }

  /** Polls until every connection answered at least once. */
  async waitAnswering(timeoutMs = 20_000): Promise<StreamStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.stats();
      if (s.answering === s.connections || Date.now() > deadline) return s;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async call(cmd: string): Promise<StreamStats> {
    const from = this.proc.mark();
    this.proc.send(JSON.stringify({ cmd }));
    const { line } = await this.proc.waitForLine((l) => l.startsWith(`{"cmd":"${cmd}"`), { from, what: `the ${cmd} answer` });
    return StreamStats.parse(JSON.parse(line));
  }
}
