// BpfError: one failed libbpf/bpf() call, with the errno name, a hint that
// says what usually causes that errno for that call, and libbpf's own warnings.

import { getSystemErrorName } from 'node:util';
import { SterletError } from '../common/errors.ts';
import { recentWarnings, strerror } from './ffi.ts';

export const BPF_CALL_FAILED = 'BPF_CALL_FAILED';

/** What the caller was doing, to pick a hint that fits the errno. */
export interface BpfCallContext {
  /** Pin path, object file or other path the call used. */
  readonly path?: string;
  /** NUMA node requested for a map. */
  readonly numaNode?: number;
  /** Map or program name. */
  readonly name?: string;
  /** True when the map asked for BPF_F_NO_COMMON_LRU or is a per-CPU type. */
  readonly perCpu?: boolean;
  /** True for XDP attach/detach with an expected old program. */
  readonly replace?: boolean;
  /** Extra structured detail for logs. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export class BpfError extends SterletError {
  override readonly code = BPF_CALL_FAILED;
  /** The C function that failed, e.g. `bpf_map_create`. */
  readonly call: string;
  /** Positive errno value. */
  readonly errno: number;
  /** Symbolic errno, e.g. `EPERM`. */
  readonly errnoName: string;
  /** What to do about it (always set for a BpfError). */
  declare readonly hint: string;
  /** libbpf warnings printed during the call (verifier log, BTF problems), possibly empty. */
  readonly libbpfLog: string;

  constructor(call: string, errno: number, context: BpfCallContext = {}) {
    const errnoName = errnoNameOf(errno);
    const log = recentWarnings();
    const subject = context.name !== undefined ? ` (${context.name})` : context.path !== undefined ? ` (${context.path})` : '';
    const { why, fix } = explain(call, errnoName, context);
    super(BPF_CALL_FAILED, `${call}${subject} failed with ${errnoName}: ${errnoMessage(errno)}`, {
      why,
      fix,
      hint: fix,
      details: { call, errno, errnoName, ...context.details, ...(context.path !== undefined ? { path: context.path } : {}) },
    });
    this.name = 'BpfError';
    this.call = call;
    this.errno = errno;
    this.errnoName = errnoName;
    this.libbpfLog = log;
    if (log !== '') this.message += `\nlibbpf log (last lines):\n${lastLines(log, 30)}`;
  }
}

/** True when `err` is a BpfError, optionally with a given errno name. */
export function isBpfError(err: unknown, errnoName?: string): err is BpfError {
  return err instanceof BpfError && (errnoName === undefined || err.errnoName === errnoName);
}

export function errnoNameOf(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `errno ${errno}`;
  }
}

function errnoMessage(errno: number): string {
  return strerror(Math.abs(errno)).toLowerCase();
}

function lastLines(text: string, n: number): string {
  const lines = text.split('\n');
  return lines.slice(-n).join('\n');
}

interface Explanation {
  why: string;
  fix: string;
}

function explain(call: string, errnoName: string, ctx: BpfCallContext): Explanation {
  const isAttach = call === 'bpf_xdp_attach' || call === 'bpf_xdp_detach';
  switch (errnoName) {
    case 'EPERM':
    case 'EACCES':
      if (call === 'bpf_object__load' && errnoName === 'EACCES') {
        return { why: 'the verifier rejected a program', fix: 'read the verifier log above; the program must pass the kernel verifier' };
      }
      return {
        why: 'the kernel refused the bpf() operation for this process',
        fix: 'run as root or with CAP_BPF + CAP_NET_ADMIN (and CAP_SYS_ADMIN for pins)',
      };
    case 'E2BIG':
      if (call === 'bpf_map_create' || call === 'bpf_object__load') {
        return {
          why: 'a map limit was exceeded (max_entries x value size too large, value size over the per-CPU limit, or key size too large)',
          fix: 'reduce max_entries or the value size',
        };
      }
      if (call === 'bpf_prog_test_run_opts') {
        return { why: 'the test packet is larger than the kernel accepts for a test run', fix: 'use a frame of at most one page minus headroom' };
      }
      return { why: 'a size or count passed to the kernel is over its limit', fix: 'split the operation into smaller batches' };
    case 'ENOENT':
      if (call === 'bpf_object__open_file') {
        return { why: `the object file ${ctx.path ?? ''} does not exist`, fix: 'build it (make bpf) or point to the right path' };
      }
      if (call === 'bpf_obj_get' || call === 'bpf_obj_pin') {
        return {
          why: `the pin path ${ctx.path ?? ''} does not exist`.replace(/ +$/, ''),
          fix: 'check that bpffs is mounted at /sys/fs/bpf and the object was pinned (start the agent first)',
        };
      }
      if (call.endsWith('_get_fd_by_id')) return { why: 'no object with that id exists (it was freed)', fix: 'query the id again' };
      if (isAttach) return { why: 'no XDP program is attached in that mode', fix: 'check the mode with xdpQuery()' };
      return { why: 'the entry or object does not exist', fix: 'check the key or name' };
    case 'EBUSY':
      if (isAttach) {
        return { why: 'another XDP program is attached', fix: 'replace it with expectedOld or detach first' };
      }
      return { why: 'the object is in use', fix: 'retry after the other user releases it' };
    case 'EEXIST':
      if (isAttach && ctx.replace === true) {
        return {
          why: 'the attached XDP program is not the expected old program (someone else replaced it)',
          fix: 'query the attached program with xdpQuery() and retry with the program that is attached now',
        };
      }
      if (call === 'bpf_obj_pin') return { why: `${ctx.path ?? 'the pin path'} is already pinned`, fix: 'unpin it first or adopt the pinned object' };
      return { why: 'the key already exists (BPF_NOEXIST)', fix: 'update with BPF_ANY or BPF_EXIST' };
    case 'EINVAL':
      if (call === 'bpf_map_create' && ctx.numaNode !== undefined && ctx.perCpu === true) {
        return {
          why: 'the kernel refuses BPF_F_NUMA_NODE on per-CPU map types and on LRU maps with BPF_F_NO_COMMON_LRU',
          fix: 'create one plain LRU_HASH per CPU on its node (map-in-map), or drop numaNode for the per-CPU map',
        };
      }
      if (call === 'bpf_map_create' && ctx.numaNode !== undefined) {
        return {
          why: `NUMA node ${ctx.numaNode} does not exist or is offline on this host (or the map type does not support BPF_F_NUMA_NODE)`,
          fix: 'use a node listed in /sys/devices/system/node/online',
        };
      }
      if (call === 'bpf_object__load') {
        return { why: 'the kernel rejected a map or program definition', fix: 'read the libbpf log above' };
      }
      return { why: 'the kernel rejected an argument (wrong size, flag or map type for this operation)', fix: 'check the arguments against the map/program type' };
    case 'ENOSPC':
      return { why: 'the map is full or an output buffer is too small', fix: 'raise max_entries or the output buffer size' };
    case 'EOPNOTSUPP':
    case 'ENOTSUPP':
      if (isAttach) return { why: 'the driver has no native XDP support', fix: "use mode 'generic'" };
      return { why: 'the operation is not supported for this map or program type', fix: 'use a supported operation' };
    case 'ENODEV':
      return { why: 'no network interface with that ifindex', fix: 'resolve the ifindex again (`ip -j link`)' };
    default:
      return { why: `the kernel returned ${errnoName}`, fix: 'see the errno and the libbpf log' };
  }
}
