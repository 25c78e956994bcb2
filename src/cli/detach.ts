// `sterlet detach`: remove the program from the interface and the pins
// (balancer or decap, whichever the directory holds). Connection tables are
// lost: the next agent start creates a fresh dataplane.

import { rmSync } from 'node:fs';
import { namesFilePath } from '../agent/dataplane/names-file.ts';
import { detachDataplane } from '../agent/dataplane/detach.ts';
import { DEFAULT_BPFFS } from '../agent/dataplane/pin-layout.ts';
import { parseFlags, type FlagSpec } from './args.ts';
import { ifindexOf } from './common.ts';

export const DETACH_FLAGS: readonly FlagSpec[] = [
  { name: 'interface', type: 'string', short: 'i', help: 'interface to detach from', required: true },
  { name: 'bpffs', type: 'string', short: 'b', help: 'bpffs directory of the pins', default: DEFAULT_BPFFS },
];

export async function detachCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('detach', argv, DETACH_FLAGS);
  const iface = f.str('interface') ?? '';
  const bpffs = f.str('bpffs') ?? DEFAULT_BPFFS;
  const result = detachDataplane({ interfaceName: iface, ifindex: await ifindexOf(iface), bpffs });
  // The names describe what was pinned there: they go with the pins.
  rmSync(namesFilePath(bpffs), { force: true });
  const restored = result.restored === undefined ? '' : `; ${result.restored.name} (id ${result.restored.id}) runs alone on ${iface} again`;
  process.stdout.write(
    `${result.detachedProgramId === undefined ? `no Sterlet program was attached to ${iface}` : `detached program ${result.detachedProgramId} from ${iface}`}${restored}; removed ${result.removedPins.length} pin(s) under ${bpffs}\n`,
  );
  return 0;
}
