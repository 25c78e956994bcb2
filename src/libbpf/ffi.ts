// The one file that talks to koffi: finds libbpf.so.1, declares the C
// functions and structs Sterlet uses, and routes libbpf's log output.
// Everything above this file sees typed wrappers, never koffi.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import type { LibraryHandle, TypeObject } from 'koffi';
import { SterletError } from '../common/errors.ts';

/**
 * Where libbpf.so.1 may live, in the order they are tried. STERLET_LIBBPF,
 * when set, is the only candidate: a wrong explicit path fails loudly instead
 * of silently loading another build.
 */
export function libbpfCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env['STERLET_LIBBPF'];
  if (override !== undefined && override !== '') return [override];
  return [
    // src/libbpf/ffi.ts -> the repository root is two directories up.
    fileURLToPath(new URL('../../build/libbpf/lib/libbpf.so.1', import.meta.url)),
    // Where the container image installs it.
    '/usr/local/lib/sterlet/libbpf.so.1',
  ];
}

function loadLibbpf(): LibraryHandle {
  const candidates = libbpfCandidates();
  const tried: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) {
      tried.push(`${path} (missing)`);
      continue;
    }
    try {
      return koffi.load(path);
    } catch (err) {
      tried.push(`${path} (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  throw new SterletError('BPF_LIBBPF_NOT_FOUND', 'cannot load libbpf.so.1', {
    why: `tried ${tried.join(', ')}`,
    fix: 'run `make libbpf`, or set STERLET_LIBBPF to the path of a libbpf 1.5 shared library (libbpf.so.1)',
  });
}

const lib = loadLibbpf();
const libc = koffi.load('libc.so.6');

// Opts structs mirror bpf.h/libbpf.h of libbpf 1.5; `sz` is always sizeof.
export const MapCreateOpts = koffi.struct('bpf_map_create_opts', {
  sz: 'size_t',
  btf_fd: 'uint32',
  btf_key_type_id: 'uint32',
  btf_value_type_id: 'uint32',
  btf_vmlinux_value_type_id: 'uint32',
  inner_map_fd: 'uint32',
  map_flags: 'uint32',
  map_extra: 'uint64',
  numa_node: 'uint32',
  map_ifindex: 'uint32',
  value_type_btf_obj_fd: 'int32',
  token_fd: 'uint32',
});

export const MapBatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64',
  flags: 'uint64',
});

export const TestRunOpts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32',
  data_size_out: 'uint32',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32',
  ctx_size_out: 'uint32',
  retval: 'uint32',
  repeat: 'int',
  duration: 'uint32',
  flags: 'uint32',
  cpu: 'uint32',
  batch_size: 'uint32',
});

export const XdpAttachOpts = koffi.struct('bpf_xdp_attach_opts', {
  sz: 'size_t',
  old_prog_fd: 'int',
});

export const XdpQueryOpts = koffi.struct('bpf_xdp_query_opts', {
  sz: 'size_t',
  prog_id: 'uint32',
  drv_prog_id: 'uint32',
  hw_prog_id: 'uint32',
  skb_prog_id: 'uint32',
  attach_mode: 'uint8',
  feature_flags: 'uint64',
  xdp_zc_max_segs: 'uint32',
});

// Prefix of struct bpf_prog_info up to `name`; the kernel fills min(len, sizeof).
export const ProgInfoPrefix = koffi.struct('bpf_prog_info_prefix', {
  type: 'uint32',
  id: 'uint32',
  tag: koffi.array('uint8', 8, 'Array'),
  jited_prog_len: 'uint32',
  xlated_prog_len: 'uint32',
  jited_prog_insns: 'uint64',
  xlated_prog_insns: 'uint64',
  load_time: 'uint64',
  created_by_uid: 'uint32',
  nr_map_ids: 'uint32',
  map_ids: 'void *',
  name: koffi.array('char', 16, 'String'),
});

export const BpfObjectPtr = koffi.pointer('bpf_object', koffi.opaque());
export const BpfMapPtr = koffi.pointer('bpf_map', koffi.opaque());
export const BpfProgramPtr = koffi.pointer('bpf_program', koffi.opaque());

const PrintFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *args)');
export const RingSampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

/** The raw C functions. Every int-returning one returns -errno on failure (libbpf 1.x). */
export const c = {
  numPossibleCpus: lib.func('int libbpf_num_possible_cpus(void)'),
  setPrint: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)'),

  mapCreate: lib.func(
    'int bpf_map_create(int type, const char *name, uint32 key_size, uint32 value_size, uint32 max_entries, const bpf_map_create_opts *opts)',
  ),
  mapLookup: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  mapUpdate: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64 flags)'),
  mapDelete: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
  mapNextKey: lib.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
  mapLookupBatch: lib.func(
    'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32 *count, const bpf_map_batch_opts *opts)',
  ),
  mapUpdateBatch: lib.func(
    'int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32 *count, const bpf_map_batch_opts *opts)',
  ),
  mapDeleteBatch: lib.func(
    'int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32 *count, const bpf_map_batch_opts *opts)',
  ),
  mapGetFdById: lib.func('int bpf_map_get_fd_by_id(uint32 id)'),
  progGetFdById: lib.func('int bpf_prog_get_fd_by_id(uint32 id)'),
  objPin: lib.func('int bpf_obj_pin(int fd, const char *path)'),
  objGet: lib.func('int bpf_obj_get(const char *path)'),
  objGetInfoByFd: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32 *info_len)'),
  objGetProgInfo: lib.func(
    'int bpf_obj_get_info_by_fd(int fd, _Inout_ bpf_prog_info_prefix *info, _Inout_ uint32 *info_len)',
  ),
  // Takes a pointer into native scratch memory (see Scratch): no per-call struct marshalling.
  progTestRun: lib.func('int bpf_prog_test_run_opts(int fd, void *opts)'),

  xdpAttach: lib.func('int bpf_xdp_attach(int ifindex, int prog_fd, uint32 flags, const bpf_xdp_attach_opts *opts)'),
  xdpDetach: lib.func('int bpf_xdp_detach(int ifindex, uint32 flags, const bpf_xdp_attach_opts *opts)'),
  xdpQuery: lib.func('int bpf_xdp_query(int ifindex, int flags, _Inout_ bpf_xdp_query_opts *opts)'),
  linkCreate: lib.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)'),

  ringBufferNew: lib.func('void *ring_buffer__new(int map_fd, ring_buffer_sample_fn *sample_cb, void *ctx, const void *opts)'),
  ringBufferConsume: lib.func('int ring_buffer__consume(void *rb)'),
  ringBufferFree: lib.func('void ring_buffer__free(void *rb)'),

  objectOpenFile: lib.func('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
  objectLoad: lib.func('int bpf_object__load(bpf_object *obj)'),
  objectClose: lib.func('void bpf_object__close(bpf_object *obj)'),
  objectNextMap: lib.func('bpf_map *bpf_object__next_map(bpf_object *obj, bpf_map *prev)'),
  objectNextProgram: lib.func('bpf_program *bpf_object__next_program(bpf_object *obj, bpf_program *prev)'),
  objectFindMap: lib.func('bpf_map *bpf_object__find_map_by_name(bpf_object *obj, const char *name)'),
  objectFindProgram: lib.func('bpf_program *bpf_object__find_program_by_name(bpf_object *obj, const char *name)'),

  mapName: lib.func('const char *bpf_map__name(bpf_map *map)'),
  mapFd: lib.func('int bpf_map__fd(bpf_map *map)'),
  mapType: lib.func('int bpf_map__type(bpf_map *map)'),
  mapKeySize: lib.func('uint32 bpf_map__key_size(bpf_map *map)'),
  mapValueSize: lib.func('uint32 bpf_map__value_size(bpf_map *map)'),
  mapMaxEntries: lib.func('uint32 bpf_map__max_entries(bpf_map *map)'),
  mapFlags: lib.func('uint32 bpf_map__map_flags(bpf_map *map)'),
  mapSetMaxEntries: lib.func('int bpf_map__set_max_entries(bpf_map *map, uint32 max_entries)'),
  mapSetValueSize: lib.func('int bpf_map__set_value_size(bpf_map *map, uint32 size)'),
  mapSetFlags: lib.func('int bpf_map__set_map_flags(bpf_map *map, uint32 flags)'),
  mapSetNumaNode: lib.func('int bpf_map__set_numa_node(bpf_map *map, uint32 node)'),
  mapSetInnerMapFd: lib.func('int bpf_map__set_inner_map_fd(bpf_map *map, int fd)'),
  mapReuseFd: lib.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  mapSetPinPath: lib.func('int bpf_map__set_pin_path(bpf_map *map, const char *path)'),
  mapSetInitialValue: lib.func('int bpf_map__set_initial_value(bpf_map *map, const void *data, size_t size)'),
  mapIsPinned: lib.func('bool bpf_map__is_pinned(bpf_map *map)'),

  programName: lib.func('const char *bpf_program__name(bpf_program *prog)'),
  programFd: lib.func('int bpf_program__fd(bpf_program *prog)'),
  programType: lib.func('int bpf_program__type(bpf_program *prog)'),
  programSetType: lib.func('int bpf_program__set_type(bpf_program *prog, int type)'),
  programSetExpectedAttachType: lib.func('int bpf_program__set_expected_attach_type(bpf_program *prog, int type)'),
  programSetAutoload: lib.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
} as const;

const vsnprintf = libc.func('int vsnprintf(void *buf, size_t size, const char *fmt, void *args)');
const strerrorC = libc.func('const char *strerror(int errnum)');

/** The C library's text for an errno. */
export function strerror(errno: number): string {
  return strerrorC(errno) as string;
}

/** libbpf log levels (enum libbpf_print_level). */
export type LibbpfLogLevel = 'warn' | 'info' | 'debug';
export type LibbpfLogger = (level: LibbpfLogLevel, message: string) => void;

const LEVELS: readonly LibbpfLogLevel[] = ['warn', 'info', 'debug'];
const WARN_KEEP_CHARS = 8192;

let logger: LibbpfLogger | undefined;
let warnings = '';
const printBuf = Buffer.alloc(4096);

// Called synchronously on the JS thread during a libbpf call. va_list is an
// array type on x86-64 and aarch64 SysV, so it arrives as a pointer that
// vsnprintf can consume exactly once.
const printCallback = koffi.register((level: number, fmt: string, args: unknown): number => {
  const isWarn = level === 0;
  if (!isWarn && logger === undefined) return 0;
  const n = vsnprintf(printBuf, printBuf.length, fmt, args) as number;
  if (n <= 0) return 0;
  const text = printBuf.subarray(0, Math.min(n, printBuf.length - 1)).toString('utf8');
  if (isWarn) warnings = (warnings + text).slice(-WARN_KEEP_CHARS);
  logger?.(LEVELS[level] ?? 'debug', text.trimEnd());
  return 0;
}, koffi.pointer(PrintFn));
c.setPrint(printCallback);

/** Route libbpf's own messages (warnings, verifier logs) to `fn`; undefined silences them. */
export function setLibbpfLogger(fn: LibbpfLogger | undefined): void {
  logger = fn;
}

/** Forget collected warnings; call before a libbpf call whose failure should quote them. */
export function clearWarnings(): void {
  warnings = '';
}

/** libbpf warnings printed since the last clearWarnings(), newest last (bounded). */
export function recentWarnings(): string {
  return warnings.trim();
}

/** errno of the last C call, for APIs that return NULL instead of -errno. */
export function lastErrno(): number {
  return koffi.errno();
}

/** Size in bytes of one of the structs above. */
export function sizeOf(type: TypeObject): number {
  return koffi.sizeof(type);
}

/** Byte offset of a member of one of the structs above. */
export function offsetOf(type: TypeObject, member: string): number {
  return koffi.offsetof(type, member);
}

/**
 * Native memory at a fixed address, viewed as a Buffer. Used where a struct
 * must hold pointers to our bytes (test-run opts): filled in place, passed by
 * pointer, read back without koffi converting objects on every call.
 */
export interface Scratch {
  readonly ptr: unknown;
  readonly address: bigint;
  readonly bytes: Buffer;
}

export function allocScratch(size: number): Scratch {
  const ptr = koffi.alloc('uint8', size);
  return { ptr, address: koffi.address(ptr), bytes: Buffer.from(koffi.view(ptr, size)) };
}

export function freeScratch(s: Scratch): void {
  koffi.free(s.ptr);
}

/** True when a koffi pointer return value is NULL. */
export function isNull(ptr: unknown): boolean {
  return ptr === null || ptr === undefined;
}
