// Typed handle on client-runner.ts running inside the client namespace.
// Each call sends one JSON command and waits for the answer line with the
// same id; answers are parsed with zod, never trusted as-is.
import { join } from 'node:path';
import { z } from 'zod';
import { TRAFFIC_CPUS } from './addressing.ts';
import { NODE_BIN } from '../exec.ts';
import type { ManagedProcess } from './processes.ts';
import type { Topology } from './topology.ts';

const RUNNER = join(import.meta.dirname, 'client-runner.ts');

export const TrafficStats = z.object({
  total: z.number(),
  ok: z.number(),
  failures: z.number(),
  resets: z.number(),
  slow: z.number(),
  maxLatencyMs: z.number(),
  durationMs: z.number(),
  counts: z.record(z.string(), z.number()),
  byKind: z.record(z.string(), z.number()),
  errors: z.array(z.string()),
});
export type TrafficStats = z.infer<typeof TrafficStats>;

const ProbeResult = TrafficStats.extend({ byPort: z.record(z.string(), z.string()) });
export type ProbeResult = z.infer<typeof ProbeResult>;

const OpenResult = z.object({
  connections: z.array(z.object({ id: z.number(), localPort: z.number().optional(), dead: z.string().optional() })),
});

export const RoundEntry = z.object({
  id: z.number(),
  localPort: z.number().optional(),
  ok: z.boolean(),
  backend: z.string().optional(),
  kind: z.string().optional(),
  message: z.string().optional(),
});
export type RoundEntry = z.infer<typeof RoundEntry>;
const RoundResult = z.object({ results: z.array(RoundEntry) });

const Answer = z.object({ id: z.number(), ok: z.boolean(), result: z.unknown().optional(), error: z.string().optional() });

export class TrafficClient {
  private nextId = 1;
  private readonly proc: ManagedProcess;

  private constructor(proc: ManagedProcess) {
    this.proc = proc;
  }

  /** Starts the runner in the client namespace, aimed at the topology's VIP (or `host`). */
  static async start(topology: Topology, options: { host?: string; port?: number } = {}): Promise<TrafficClient> {
    const host = options.host ?? topology.vip;
    const port = String(options.port ?? 80);
    const proc = topology.processes.start([NODE_BIN, RUNNER, '--host', host, '--port', port], {
      name: `client-runner ${host} ${port}`,
      netns: topology.client.netns,
      logFile: join(topology.scratch, `client-runner-${host.replaceAll(':', '_')}-${port}.log`),
      stdin: true,
      cpus: TRAFFIC_CPUS,
    });
    await proc.waitForLine(/"ready":true/, { what: 'its ready line' });
    return new TrafficClient(proc);
  }

  /** `count` brand-new connections (one GET each, server closes), `concurrency` at a time. */
  async burst(count: number, options: { concurrency?: number; timeoutMs?: number } = {}): Promise<TrafficStats> {
    return TrafficStats.parse(await this.call('burst', { count, concurrency: options.concurrency ?? 8, timeoutMs: options.timeoutMs ?? 3000 }));
  }

  /**
   * Like burst, but connection i binds local port firstPort+i, so repeated
   * probes send the same 5-tuples: byPort says where each landed
   * (`backend-N`, or `!kind` on failure). Use ports outside the ephemeral range.
   */
  async probe(firstPort: number, count: number, options: { concurrency?: number; timeoutMs?: number } = {}): Promise<ProbeResult> {
    return ProbeResult.parse(
      await this.call('probe', { firstPort, count, concurrency: options.concurrency ?? 8, timeoutMs: options.timeoutMs ?? 3000 }),
    );
  }

  /** Opens `count` keep-alive connections that later rounds reuse. */
  async open(count: number): Promise<z.infer<typeof OpenResult>['connections']> {
    return OpenResult.parse(await this.call('open', { count })).connections;
  }

  /** One GET on every held connection: which backend each answered from (or how it failed). */
  async round(timeoutMs = 3000): Promise<RoundEntry[]> {
    return RoundResult.parse(await this.call('round', { timeoutMs })).results;
  }

  async closeAll(): Promise<void> {
    await this.call('closeAll', {});
  }

  /** Between tests: no held connections, no load left running (whatever the last test did). */
  async reset(): Promise<void> {
    await this.closeAll();
    await this.call('stopLoad', {}).catch(() => undefined);
  }

  /** Continuous new-connection requests in the background until stopLoad(). */
  async startLoad(options: { concurrency?: number; ratePerSecond?: number; timeoutMs?: number } = {}): Promise<void> {
    await this.call('startLoad', {
      concurrency: options.concurrency ?? 2,
      ratePerSecond: options.ratePerSecond ?? 100,
      timeoutMs: options.timeoutMs ?? 3000,
    });
  }

  async loadStats(): Promise<TrafficStats> {
    return TrafficStats.parse(await this.call('loadStats', {}));
  }

  async stopLoad(): Promise<TrafficStats> {
    return TrafficStats.parse(await this.call('stopLoad', {}, 30_000));
  }

  /** Waits until the running load has completed `more` additional successful requests. */
  async waitForLoadProgress(more: number, timeoutMs = 15_000): Promise<TrafficStats> {
    const start = (await this.loadStats()).ok;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await this.loadStats();
      if (stats.ok >= start + more) return stats;
      if (Date.now() > deadline) {
        throw new Error(`E2E_TIMEOUT: load made ${String(stats.ok - start)}/${String(more)} successful requests in ${String(timeoutMs)} ms: ${JSON.stringify(stats)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async call(op: string, args: Record<string, unknown>, timeoutMs = 120_000): Promise<unknown> {
    const id = this.nextId++;
    const from = this.proc.mark();
    this.proc.send(JSON.stringify({ ...args, id, op }));
    const { line } = await this.proc.waitForLine((text) => text.startsWith(`{"id":${String(id)},`), {
      from,
      timeoutMs,
      what: `the answer to ${op} #${String(id)}`,
    });
    const answer = Answer.parse(JSON.parse(line));
    if (!answer.ok) throw new Error(`E2E_CLIENT_${op.toUpperCase()}: ${answer.error ?? 'failed'}`);
    return answer.result;
  }
}

/** What a round must look like if every connection stayed where it was: same backend, ok. */
export function sameBackends(entries: readonly RoundEntry[]): RoundEntry[] {
  return entries.map((entry) => ({ id: entry.id, localPort: entry.localPort, ok: true, backend: entry.backend }) as RoundEntry);
}
