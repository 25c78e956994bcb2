// `sterlet dump` switched on around one measured bench run (bench/dataplane.ts):
// the capture config written as the CLI writes it, the ring buffer drained
// (and its records counted) after the run, the config switched off again.
import { captureMapsOf, captureMissed, encodeCaptureConfig, type CaptureMaps } from '../../src/agent/capture/record.ts';
import { parseClient, verdictMask } from '../../src/agent/capture/filter.ts';
import { RingBufferReader, type BpfProgram } from '../../src/libbpf/libbpf.ts';

/** copy: every packet into the ring (256-byte snap); filtered: a --client filter no packet matches (the kernel filter rejects each). */
export type CaptureMode = 'copy' | 'filtered';

/** Records of one copy run must fit the 4 MB ring (a record is 536 bytes): larger runs would measure "ring full". */
export const CAPTURE_COPY_REPEAT = 4000;

export interface CaptureRun {
  readonly recorded: number;
  readonly filtered: number;
  readonly lost: number;
}

const maps = new WeakMap<BpfProgram, CaptureMaps>();

export function withCapture(program: BpfProgram, mode: CaptureMode, run: () => void): CaptureRun {
  let m = maps.get(program);
  if (m === undefined) {
    m = captureMapsOf(program.info().mapIds);
    maps.set(program, m);
  }
  const key = Buffer.alloc(4);
  const before = captureMissed(m.cpu);
  const filter = mode === 'filtered' ? { client: parseClient('203.0.113.0/24') } : undefined;
  m.cfg.update(key, encodeCaptureConfig({ on: true, snaplen: 256, verdicts: verdictMask(undefined), rate: 0, filter, guePort: 6080 }, m.cfg.valueSize));
  let recorded = 0;
  const reader = new RingBufferReader(m.ring, () => void recorded++);
  try {
    run();
  } finally {
    m.cfg.update(key, encodeCaptureConfig({ on: false, snaplen: 0, verdicts: 0, rate: 0 }, m.cfg.valueSize));
    reader.consume();
    reader.close();
  }
  const after = captureMissed(m.cpu);
  return { recorded, filtered: after.filtered - before.filtered, lost: after.lost - before.lost };
}
