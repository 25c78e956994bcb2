// Driving the real `sterlet` CLI inside the namespaces: the balancer agent in
// the lb namespace (restartable, kill -9-able, its log kept across restarts)
// and one-shot commands (decap, stats, detach). Nothing here talks to BPF
// directly: the e2e tests see Sterlet only the way an operator would.
import { join } from 'node:path';
import { NODE_BIN, run, STERLET_CLI, type RunResult } from '../exec.ts';
import type { ManagedProcess } from './processes.ts';
import type { BackendNode, LbNode, Topology } from './topology.ts';

/** The environment for sterlet children: the caller's, minus any STERLET_* flag overrides. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('STERLET_')) env[key] = value;
  return { ...env, ...extra };
}

/** Runs `sterlet <args>` to completion inside `netns`. */
export function sterlet(netns: string, args: readonly string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  return run([NODE_BIN, STERLET_CLI, ...args], { netns, timeoutMs: options.timeoutMs ?? 60_000, env: cleanEnv(options.env) });
}

export interface AgentConfig {
  /** Directory of manifests (--manifests). */
  readonly manifests: string;
  /** bpffs directory as seen inside the namespace (--bpffs). */
  readonly bpffs: string;
  /** --gateway-mac; omitted: the agent discovers it from the lb's default route and neighbour table. */
  readonly gatewayMac?: string;
  readonly xdpMode?: 'native' | 'generic';
  /** --bpf-object: the program build to run (a private copy, so a concurrent `make bpf` cannot change it). */
  readonly bpfObject?: string;
  /** The lb node to run on (default the topology's first); its name labels the log file. */
  readonly node?: LbNode;
  /** More flags (e.g. --bgp-speaker). */
  readonly extraArgs?: readonly string[];
}

/** One agent "installation": start/kill/restart keep the same flags and one log file. */
export class AgentRunner {
  private readonly topology: Topology;
  private readonly config: AgentConfig;
  private proc: ManagedProcess | undefined;
  private starts = 0;
  readonly logFile: string;

  constructor(topology: Topology, config: AgentConfig) {
    this.topology = topology;
    this.config = config;
    this.logFile = join(topology.scratch, config.node === undefined || config.node === topology.lb ? 'agent.log' : `agent-${config.node.netns}.log`);
  }

  get node(): LbNode {
    return this.config.node ?? this.topology.lb;
  }

  /** The running agent process (throws when none was started). */
  get process(): ManagedProcess {
    if (!this.proc) throw new Error('E2E_AGENT_NOT_STARTED: start() the agent first');
    return this.proc;
  }

  args(bpfObject = this.config.bpfObject): string[] {
    return [
      'agent',
      ...(bpfObject === undefined ? [] : ['--bpf-object', bpfObject]),
      '--interface', this.node.iface,
      '--manifests', this.config.manifests,
      '--bpffs', this.config.bpffs,
      '--xdp-mode', this.config.xdpMode ?? 'native',
      ...(this.config.gatewayMac === undefined ? [] : ['--gateway-mac', this.config.gatewayMac]),
      '--metrics-addr', '127.0.0.1:9464',
      '--log-level', 'debug',
      ...(this.config.extraArgs ?? []),
    ];
  }

  /** Starts a new agent process; `bpfObject` runs another program build from now on (an upgrade). */
  start(options: { bpfObject?: string; env?: Record<string, string> } = {}): ManagedProcess {
    if (this.proc?.running === true) throw new Error('E2E_AGENT_RUNNING: stop or kill the running agent first');
    this.starts++;
    this.proc = this.topology.processes.start([NODE_BIN, STERLET_CLI, ...this.args(options.bpfObject)], {
      name: `agent#${String(this.starts)}`,
      netns: this.node.netns,
      logFile: this.logFile,
      env: cleanEnv(options.env),
    });
    return this.proc;
  }

  /** SIGKILL, no chance to clean up: what a crash or an OOM kill looks like. */
  async kill9(): Promise<void> {
    const proc = this.process;
    await this.topology.processes.remove(proc, 'SIGKILL');
  }

  /** Graceful stop (SIGTERM). */
  async stop(): Promise<number | string> {
    const proc = this.process;
    const status = await proc.stop('SIGTERM', 10_000);
    await this.topology.processes.remove(proc);
    return status;
  }
}

/** Attaches the decap program on a backend with `sterlet decap` run inside its namespace. */
export async function attachDecap(backend: BackendNode, bpffs: string): Promise<RunResult> {
  return sterlet(backend.netns, [
    'decap',
    '--interface', backend.iface,
    '--local-address', backend.address,
    '--local-address', backend.address6,
    '--xdp-mode', 'native',
    '--bpffs', join(bpffs, backend.name),
  ]);
}

/** The XDP program attached to a link: its id and mode as `ip -j link` reports them. */
export async function xdpOf(netns: string, iface: string): Promise<{ id: number; mode: number } | undefined> {
  const { stdout } = await run(['ip', '-n', netns, '-j', '-d', 'link', 'show', 'dev', iface]);
  const parsed: unknown = JSON.parse(stdout);
  const link: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
  if (link === null || typeof link !== 'object' || !('xdp' in link)) return undefined;
  const xdp = link.xdp;
  if (xdp === null || typeof xdp !== 'object' || !('mode' in xdp)) return undefined;
  const prog = 'prog' in xdp ? xdp.prog : undefined;
  const id = prog !== null && typeof prog === 'object' && 'id' in prog ? prog.id : undefined;
  if (typeof id !== 'number' || typeof xdp.mode !== 'number') return undefined;
  return { id, mode: xdp.mode };
}

/** `ip link` XDP modes: 1 = native (driver), 2 = generic (skb), 3 = offload. */
export const XDP_MODE_NATIVE = 1;

/** One pino JSON log line of the agent, loosely typed (fields vary by message). */
export type LogRecord = Readonly<Record<string, unknown>> & { readonly msg?: unknown; readonly level?: unknown };

export function parseLogLine(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits for the agent's `applied` log line (newer than `from`) for a source
 * event. `changed: true` requires map writes (a manifest change took effect);
 * false accepts a no-op apply (a restart adopting what is programmed).
 */
export async function waitForApplied(
  proc: ManagedProcess,
  from: number,
  options: { changed?: boolean; timeoutMs?: number } = {},
): Promise<LogRecord> {
  const { line } = await proc.waitForLine(
    (text) => {
      const record = parseLogLine(text);
      if (record?.msg !== 'applied' || record.reason !== 'source') return false;
      return options.changed !== true || (typeof record.changes === 'number' && record.changes > 0);
    },
    { from, timeoutMs: options.timeoutMs ?? 30_000, what: `an "applied" log line${options.changed === true ? ' with changes' : ''}` },
  );
  return parseLogLine(line) ?? {};
}

/** Waits for the agent to reject a desired state (an error line saying so). */
export async function waitForRejected(proc: ManagedProcess, from: number, timeoutMs = 30_000): Promise<LogRecord> {
  const { line } = await proc.waitForLine(
    (text) => {
      const record = parseLogLine(text);
      return typeof record?.msg === 'string' && record.msg.startsWith('desired state rejected');
    },
    { from, timeoutMs, what: 'a "desired state rejected" log line' },
  );
  return parseLogLine(line) ?? {};
}
