// Numbers from linux/bpf.h and linux/if_link.h that Sterlet uses, as plain
// objects (no enums: the code runs under Node type stripping).

/** enum bpf_map_type */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  CPUMAP: 16,
  XSKMAP: 17,
  DEVMAP_HASH: 25,
  RINGBUF: 27,
} as const;
export type MapType = (typeof MapType)[keyof typeof MapType];

/** Map types whose values are one slot per possible CPU in user space. */
export const PERCPU_MAP_TYPES: ReadonlySet<number> = new Set([MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, 21]);

/** Map types the kernel implements BPF_MAP_LOOKUP_BATCH for. */
export const BATCH_MAP_TYPES: ReadonlySet<number> = new Set([
  MapType.HASH,
  MapType.ARRAY,
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
]);

/** Map creation flags (map_flags). */
export const MapFlag = {
  BPF_F_NO_PREALLOC: 1 << 0,
  BPF_F_NO_COMMON_LRU: 1 << 1,
  BPF_F_NUMA_NODE: 1 << 2,
  BPF_F_RDONLY: 1 << 3,
  BPF_F_WRONLY: 1 << 4,
  BPF_F_ZERO_SEED: 1 << 6,
  BPF_F_RDONLY_PROG: 1 << 7,
  BPF_F_WRONLY_PROG: 1 << 8,
  BPF_F_MMAPABLE: 1 << 10,
  BPF_F_INNER_MAP: 1 << 12,
} as const;
export const { BPF_F_NO_PREALLOC, BPF_F_NO_COMMON_LRU, BPF_F_NUMA_NODE, BPF_F_MMAPABLE, BPF_F_INNER_MAP } = MapFlag;

/** Element update flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/** enum bpf_prog_type (the ones Sterlet loads). */
export const ProgType = {
  SOCKET_FILTER: 1,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  XDP: 6,
} as const;
export type ProgType = (typeof ProgType)[keyof typeof ProgType];

/** enum bpf_attach_type (the ones Sterlet uses). */
export const AttachType = {
  XDP: 37,
} as const;

/** Test-run flags. */
export const BPF_F_TEST_RUN_ON_CPU = 1 << 0;
export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

/** XDP_FLAGS_* from linux/if_link.h. */
export const XdpFlag = {
  UPDATE_IF_NOEXIST: 1 << 0,
  SKB_MODE: 1 << 1,
  DRV_MODE: 1 << 2,
  HW_MODE: 1 << 3,
  REPLACE: 1 << 4,
} as const;

/** enum XDP_ATTACHED_* */
export const XdpAttached = {
  NONE: 0,
  DRV: 1,
  SKB: 2,
  HW: 3,
  MULTI: 4,
} as const;
