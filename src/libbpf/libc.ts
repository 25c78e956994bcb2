// The libc calls the agent needs besides libbpf. (1) Memory-mapping a BPF_F_MMAPABLE array map: the agent writes and reads Maglev
// ring slots as plain memory instead of one syscall element at a time (the
// kernel's batch update costs ~0.4-0.7 us per element, so the 33.5M slots of
// 512 x 65537 would take 15+ s; as memory they take tens of ms). Windows are
// mapped for one operation and unmapped right after, so the agent's RSS does
// not carry the whole ring map. (2) malloc_trim: a full sync allocates and
// frees ~100 MB of short-lived typed arrays; glibc keeps that memory mapped
// unless asked to give it back. (3) statfs: whether a path is on a bpffs,
// checked before creating pin directories (src/agent/dataplane/pin-layout.ts).
// Health-probe sockets are in sockets.ts.
// (Written by the agent helper next to the adapter so koffi stays in src/libbpf/.)

import koffi from 'koffi';
import { SterletError } from '../common/errors.ts';
import { lastErrno } from './ffi.ts';

const libc = koffi.load('libc.so.6');
const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const munmap = libc.func('int munmap(void *addr, size_t length)');
const sysconf = libc.func('long sysconf(int name)');
const mallocTrim = libc.func('int malloc_trim(size_t pad)');
const statfs = libc.func('int statfs(const char *path, _Out_ uint8_t *buf)');

/** struct statfs is 120 bytes on 64-bit Linux; f_type (a long) comes first. */
const STATFS_SIZE = 120;

/** The filesystem magic (statfs f_type) of the filesystem holding path. */
export function filesystemType(path: string): number {
  const buf = Buffer.alloc(STATFS_SIZE);
  if (statfs(path, buf) !== 0) {
    throw new SterletError('STATFS_FAILED', `statfs ${path} failed (errno ${lastErrno()})`, {
      why: 'the path must exist and be readable',
      fix: 'check the path and the permissions of its parents',
    });
  }
  return Number(buf.readBigInt64LE(0) & 0xffffffffn);
}

/** Returns freed heap memory to the kernel (glibc malloc_trim). */
export function trimHeap(): void {
  mallocTrim(0);
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SC_PAGESIZE = 30;
const MAP_FAILED = -1n;

let pageSize: number | undefined;

export interface MappedWindow {
  /** The requested bytes [offset, offset + length) of the map's value area. */
  readonly bytes: Uint8Array;
  /** Unmaps; `bytes` must not be touched afterwards. */
  unmap(): void;
}

/** Bytes per element in an ARRAY map's value area: the kernel rounds values up to 8. */
export function arrayElemSize(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/**
 * Maps bytes [offset, offset + length) of an mmapable ARRAY map's value area
 * (value i lives at i * arrayElemSize(valueSize)) and runs `fn` on them,
 * unmapping after.
 */
export function withMappedWindow<T>(fd: number, offset: number, length: number, fn: (bytes: Uint8Array) => T): T {
  const window = mapWindow(fd, offset, length);
  try {
    return fn(window.bytes);
  } finally {
    window.unmap();
  }
}

export function mapWindow(fd: number, offset: number, length: number): MappedWindow {
  pageSize ??= Number(sysconf(SC_PAGESIZE));
  const start = Math.floor(offset / pageSize) * pageSize;
  const end = Math.ceil((offset + length) / pageSize) * pageSize;
  const size = end - start;
  const ptr = mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, start);
  if (ptr === null || koffi.address(ptr) === BigInt.asUintN(64, MAP_FAILED)) {
    throw new SterletError('BPF_MMAP_FAILED', `mmap of map fd ${fd} bytes ${start}..${end} failed (errno ${lastErrno()})`, {
      why: 'the map must be an ARRAY created with BPF_F_MMAPABLE, and the range inside it',
      fix: 'recreate the dataplane with this agent version (sterlet detach, then start)',
    });
  }
  const buffer = koffi.view(ptr, size);
  let mapped = true;
  return {
    bytes: new Uint8Array(buffer, offset - start, length),
    unmap: () => {
      if (!mapped) return;
      mapped = false;
      munmap(ptr, size);
    },
  };
}
