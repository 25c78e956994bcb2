// The libbpf adapter: the only door from Sterlet to the kernel's BPF objects.
// Typed wrappers over libbpf 1.5 loaded through koffi (see ffi.ts); callers
// never see pointers, only fds, Buffers and BpfError.

import { unlinkSync } from 'node:fs';

export { BpfError, BPF_CALL_FAILED, isBpfError, type BpfCallContext } from './errors.ts';
export { libbpfCandidates, setLibbpfLogger, type LibbpfLogger, type LibbpfLogLevel } from './ffi.ts';
export {
  AttachType,
  BATCH_MAP_TYPES,
  BPF_ANY,
  BPF_EXIST,
  BPF_F_INNER_MAP,
  BPF_F_MMAPABLE,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_TEST_RUN_ON_CPU,
  BPF_F_TEST_XDP_LIVE_FRAMES,
  BPF_NOEXIST,
  MapFlag,
  MapType,
  PERCPU_MAP_TYPES,
  ProgType,
  XdpAttached,
  XdpFlag,
} from './constants.ts';
export { BpfMap, type BatchResult, type MapCreateOptions } from './map.ts';
export { joinPerCpu, mapInfoByFd, possibleCpus, splitPerCpu, type MapInfo } from './map-info.ts';
export { BpfProgram, progInfoByFd, type ProgramInfo, type TestRunOptions, type TestRunResult } from './program.ts';
export { BpfObject, ObjectMap, ObjectProgram, type InnerMapTemplate } from './object.ts';
export { RingBufferReader } from './ringbuf.ts';
export { xdpAttach, xdpDetach, xdpQuery, type XdpAttachOptions, type XdpMode, type XdpQueryResult } from './xdp.ts';
export { tcxAttach, type TcxDirection, type TcxLink } from './tcx.ts';

/** XDP program return codes. */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

/** Remove a pin; a missing path is not an error. */
export function unpin(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
