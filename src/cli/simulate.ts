// `sterlet simulate --flow 'tcp 192.0.2.7:5555 -> 10.200.0.10:80'`: run one
// packet through the live program (BPF_PROG_TEST_RUN) and show the verdict
// and the backend it picked.

import { existsSync } from 'node:fs';
import { BpfProgram } from '../libbpf/libbpf.ts';
import { u32 } from '../agent/dataplane/codec.ts';
import { parseFlow } from '../agent/dataplane/flow-spec.ts';
import { openPinnedBalancer } from '../agent/dataplane/startup.ts';
import { balancerPins, DEFAULT_BPFFS } from '../agent/dataplane/pin-layout.ts';
import { simulateFlow } from '../agent/dataplane/simulate.ts';
import { parseFlags, type FlagSpec } from './args.ts';
import { notPinned } from './stats.ts';

export const SIMULATE_FLAGS: readonly FlagSpec[] = [
  { name: 'flow', type: 'string', short: 'f', help: "'tcp|udp SRC:PORT -> DST:PORT' (IPv6 in [brackets])", required: true },
  { name: 'bpffs', type: 'string', short: 'b', help: 'bpffs directory of the running agent', default: DEFAULT_BPFFS },
  { name: 'tcp-flags', type: 'string', help: 'TCP flags of the packet: S = new connection, A = established (via the connection table)', default: 'S' },
  { name: 'json', type: 'boolean', short: 'j', help: 'print JSON' },
];

export async function simulateCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('simulate', argv, SIMULATE_FLAGS);
  const flow = parseFlow(f.str('flow') ?? '');
  const bpffs = f.str('bpffs') ?? DEFAULT_BPFFS;
  const pins = balancerPins(bpffs);
  const pinned = openPinnedBalancer(bpffs);
  if (pinned === undefined || !existsSync(pins.program)) throw notPinned(bpffs);
  const program = BpfProgram.fromPinned(pins.program);
  try {
    const guePort = pinned.maps.settings.lookup(u32(0))?.readUInt16BE(12) ?? 6080;
    const result = simulateFlow(program, flow, { tcpFlags: f.str('tcp-flags') ?? 'S', guePort });
    if (f.bool('json')) {
      process.stdout.write(`${JSON.stringify({ flow, ...result }, null, 2)}\n`);
    } else {
      process.stdout.write(`verdict: XDP_${result.verdict}\n`);
      if (result.backend !== undefined) {
        process.stdout.write(`backend: ${result.backend} (${result.encapsulation ?? '?'}, outer source ${result.outerSource ?? '?'})\n`);
      } else if (result.verdict === 'PASS') {
        process.stdout.write('not a VIP flow: the packet goes to the kernel untouched\n');
      }
    }
    return 0;
  } finally {
    program.close();
    pinned.close();
  }
}
