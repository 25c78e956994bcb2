// Cold standalone start (issue 15 §5): the real `sterlet agent` process in a
// network namespace, started on 512 VIPs x 100 Backends (51,712 YAML documents
// in one --manifests directory) with nothing pinned, timed from spawn to its
// "applied" log line, while a poller in the same namespace asks /healthz
// without pause. Prints a table. BENCH_CPU_PROF=DIR writes the agent's CPU
// profile there (node --cpu-prof, written when the agent stops; its sampling
// signals can make the verifier fail with EAGAIN, so the profile of the phases
// in bench/agent.ts, BENCH_PART=cold-start BENCH_CPU_PROF=FILE, is the usual tool).
//
//   node bench/cold-start.ts        (root; needs make bpf)

import { mkdir, readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { AgentRunner, parseLogLine, waitForApplied, type LogRecord } from '../test/support/e2e/agent.ts';
import { createBpffsDir } from '../test/support/e2e/bpffs.ts';
import { NODE_BIN, REPO_ROOT } from '../test/support/exec.ts';
import { Topology } from '../test/support/e2e/topology.ts';
import { MANIFEST_BACKENDS, MANIFEST_DOCUMENTS, MANIFEST_VIPS, writeManifestSet } from '../test/support/e2e/manifest-set.ts';

interface Answer {
  readonly at: number;
  readonly ms: number;
  readonly status: number;
}

const t = await Topology.create({ backends: 0 });
const rows: [string, string, string][] = [];
try {
  const bpffs = await createBpffsDir(t);
  const manifests = join(t.scratch, 'manifests');
  await mkdir(manifests);
  writeManifestSet(manifests);
  const poller = t.processes.start([NODE_BIN, join(REPO_ROOT, 'test/support/e2e/healthz-poller.ts'), 'http://127.0.0.1:9464/healthz'], { name: 'healthz-poller', netns: t.lb.netns });
  const profDir = process.env['BENCH_CPU_PROF'];
  const agent = new AgentRunner(t, {
    manifests,
    bpffs: bpffs.path,
    gatewayMac: await t.gatewayMac(),
    extraArgs: ['--max-reals', String(MANIFEST_VIPS * MANIFEST_BACKENDS + 1024), ...(process.env['BENCH_ARGS'] ?? '').split(' ').filter((a) => a !== '')],
  });
  const spawned = Date.now();
  const proc = agent.start(profDir === undefined ? {} : { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-interval=20000 --cpu-prof-dir=${resolve(profDir)}` } });
  const applied = await waitForApplied(proc, 0, { timeoutMs: 180_000 });
  const cpuMs = await cpuTimeMs(proc.pid);
  const appliedAt = timeOf(applied);
  await new Promise((r) => setTimeout(r, 300)); // the poller's answer in flight at "applied"
  await agent.stop();
  await poller.stop('SIGTERM');

  const log = proc.output().map(parseLogLine).filter((r): r is LogRecord => r !== undefined);
  const at = (msg: string): number | undefined => {
    const r = log.find((l) => l.msg === msg);
    return r === undefined ? undefined : timeOf(r);
  };
  const answers = poller.output().map((l) => JSON.parse(l) as Answer);
  const firstAnswer = answers.find((a) => a.status === 200);
  const during = answers.filter((a) => firstAnswer !== undefined && a.at >= firstAnswer.at && a.at <= appliedAt);
  // A request sent before "applied" may answer after it: its latency still counts.
  const slowestAnswer = during.reduce<Answer | undefined>((m, a) => (m === undefined || a.ms > m.ms ? a : m), undefined);
  const slowest = slowestAnswer?.ms ?? 0;
  const ms = (from: number, to: number | undefined): string => (to === undefined ? '-' : `${String(to - from)} ms`);
  // BENCH_LOG=1: the agent's log lines, in ms after spawn.
  if (process.env['BENCH_LOG'] !== undefined) for (const l of log) console.log(`${String(timeOf(l) - spawned).padStart(6)} ms  ${String(l.msg)}`);
  const started = at('agent started');
  rows.push(['spawn -> "agent started" (dataplane loaded and attached, /healthz up)', ms(spawned, started), '-']);
  rows.push(['"agent started" -> "applied"', started === undefined ? '-' : ms(started, appliedAt), '-']);
  rows.push(['the apply itself (its durationMs: plan + map writes)', `${String(applied['durationMs'])} ms`, `${String(applied['changes'])} map writes`]);
  rows.push([`spawn -> "applied": the cold start, ${MANIFEST_DOCUMENTS} documents`, ms(spawned, appliedAt), 'target ≤ 5000 ms']);
  rows.push(['agent CPU time, all threads, spawn -> "applied" (+ up to one log-line delay)', `${cpuMs.toFixed(0)} ms`, 'less sensitive to the machine\'s load than the times above']);
  rows.push([
    'slowest /healthz answer between its first answer and "applied"',
    `${slowest.toFixed(0)} ms`,
    `${String(during.length)} answers, first ${firstAnswer === undefined ? 'never' : `${String(firstAnswer.at - spawned)} ms after spawn`}, slowest sent ${slowestAnswer === undefined ? '-' : String(slowestAnswer.at - spawned)} ms after spawn`,
  ]);
} finally {
  await t.destroy();
}

/** utime + stime of a process from /proc (clock ticks of 10 ms). */
async function cpuTimeMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function timeOf(r: LogRecord): number {
  const time = r['time'];
  if (typeof time !== 'string') throw new Error(`log line without a time: ${JSON.stringify(r)}`);
  return Date.parse(time);
}

const load = loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`${String(cpus().length)} CPUs, load average ${load} (other work on the machine inflates the times)\n`);
const widths = [0, 1, 2].map((i) => Math.max(...[['phase', 'time', 'notes'], ...rows].map((r) => r[i]?.length ?? 0)));
const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
console.log(line(['phase', 'time', 'notes']));
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
for (const r of rows) console.log(line(r));
