// `sterlet` subcommand dispatch and the exit-code rules: 0 success, 1 a
// failure (the error's code, message and fix on stderr), 2 a usage error.
// Asked-for output (--help, --version) goes to stdout with 0; usage shown
// because the command line was wrong (bare `sterlet`, unknown command) goes
// to stderr with 2.

import { isSterletError, errorText } from '../common/errors.ts';
import { usage, type FlagSpec } from './args.ts';
import { sterletVersion } from './version.ts';

interface Command {
  readonly summary: string;
  readonly flags: () => Promise<readonly FlagSpec[]>;
  readonly run: (argv: readonly string[]) => Promise<number>;
}

// Modules load lazily: `sterlet stats` need not load the Kubernetes client.
const COMMANDS: Record<string, Command> = {
  agent: {
    summary: 'program this node\'s XDP balancer from desired state and keep it programmed',
    flags: async () => (await import('./agent.ts')).AGENT_FLAGS,
    run: async (a) => (await import('./agent.ts')).agentCommand(a),
  },
  decap: {
    summary: 'attach the decap program on a backend node',
    flags: async () => (await import('./decap.ts')).DECAP_FLAGS,
    run: async (a) => (await import('./decap.ts')).decapCommand(a),
  },
  detach: {
    summary: 'remove the XDP program and its pins',
    flags: async () => (await import('./detach.ts')).DETACH_FLAGS,
    run: async (a) => (await import('./detach.ts')).detachCommand(a),
  },
  plan: {
    summary: 'show what applying manifests would change (touches nothing)',
    flags: async () => (await import('./plan.ts')).PLAN_FLAGS,
    run: async (a) => (await import('./plan.ts')).planCommand(a),
  },
  stats: {
    summary: 'counters per VIP and backend, LRU hit ratio, drops by reason',
    flags: async () => (await import('./stats.ts')).STATS_FLAGS,
    run: async (a) => (await import('./stats.ts')).statsCommand(a),
  },
  dump: {
    summary: 'capture what the balancer handles as pcap (sterlet dump | tcpdump -r -)',
    flags: async () => (await import('./dump.ts')).DUMP_FLAGS,
    run: async (a) => (await import('./dump.ts')).dumpCommand(a),
  },
  simulate: {
    summary: 'run one packet through the live program and show the chosen backend',
    flags: async () => (await import('./simulate.ts')).SIMULATE_FLAGS,
    run: async (a) => (await import('./simulate.ts')).simulateCommand(a),
  },
  controller: {
    summary: 'run the cluster controller',
    flags: async () => (await import('./controller.ts')).CONTROLLER_FLAGS,
    run: async (a) => (await import('./controller.ts')).controllerCommand(a),
  },
};

function overview(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'sterlet — Katran-class XDP L4 load balancer',
    '',
    'Usage: sterlet <command> [flags]   (sterlet <command> --help for its flags)',
    '',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]?.summary ?? ''}`),
    '',
    'Flags:',
    '  -h, --help     this overview (sterlet <command> --help: that command\'s flags)',
    '  -V, --version  print the version',
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${overview()}\n`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${overview()}\n`);
    return 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`sterlet ${sterletVersion()} (node ${process.version})\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`sterlet: unknown command ${JSON.stringify(name)}\n\n${overview()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${usage(name, command.summary, await command.flags())}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (isSterletError(err, 'CLI_USAGE')) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (isSterletError(err)) {
      process.stderr.write(`sterlet ${name}: ${err.code}: ${err.message}\n`);
      if (err.hint !== undefined && !err.message.includes(err.hint)) process.stderr.write(`hint: ${err.hint}\n`);
      return 1;
    }
    process.stderr.write(`sterlet ${name}: ${errorText(err)}\n${err instanceof Error && err.stack !== undefined ? `${err.stack}\n` : ''}`);
    return 1;
  }
}
