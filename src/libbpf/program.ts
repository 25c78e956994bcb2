// BpfProgram: a program fd with info, pinning and BPF_PROG_TEST_RUN.

import { SterletError } from '../common/errors.ts';
import { check, closeFd } from './call.ts';
import { allocScratch, c, freeScratch, offsetOf, ProgInfoPrefix, type Scratch, sizeOf, TestRunOpts } from './ffi.ts';

export interface ProgramInfo {
  readonly id: number;
  readonly name: string;
  /** 8-byte program tag as hex (what `bpftool prog` shows). */
  readonly tag: string;
  readonly type: number;
  readonly mapIds: number[];
}

export interface TestRunOptions {
  /** Packet bytes (for XDP: the frame starting at the Ethernet header). */
  readonly data: Buffer;
  /** Run the program this many times on the same buffer (default 1). */
  readonly repeat?: number;
  /** Room for the output packet; default data.length + 256 (encapsulation grows frames). */
  readonly dataOutSize?: number;
  /** Optional context, e.g. struct xdp_md with ingress_ifindex. */
  readonly ctxIn?: Buffer;
  /** CPU to run on; needs flags BPF_F_TEST_RUN_ON_CPU (not supported for XDP by the kernel). */
  readonly cpu?: number;
  readonly flags?: number;
}

export interface TestRunResult {
  /** Program return value (XDP_DROP 1, XDP_PASS 2, XDP_TX 3, ...). */
  readonly retval: number;
  /** Output packet as the program left it. */
  readonly data: Buffer;
  /** Average run time per repetition, as measured by the kernel. */
  readonly durationNs: number;
}

const PROG_INFO_SIZE = sizeOf(ProgInfoPrefix);
const OPTS_SIZE = sizeOf(TestRunOpts);
const OFF = Object.fromEntries(
  ['sz', 'data_in', 'data_out', 'data_size_in', 'data_size_out', 'ctx_in', 'ctx_size_in', 'retval', 'repeat', 'duration', 'flags', 'cpu'].map(
    (m) => [m, offsetOf(TestRunOpts, m)],
  ),
) as Record<'sz' | 'data_in' | 'data_out' | 'data_size_in' | 'data_size_out' | 'ctx_in' | 'ctx_size_in' | 'retval' | 'repeat' | 'duration' | 'flags' | 'cpu', number>;

// One scratch area for all test runs (JS is single-threaded and the call is
// synchronous); it grows when a bigger frame comes along.
let scratch: Scratch | undefined;
function scratchOf(size: number): Scratch {
  if (scratch === undefined || scratch.bytes.length < size) {
    if (scratch !== undefined) freeScratch(scratch);
    scratch = allocScratch(Math.max(size, 8192));
  }
  return scratch;
}

export class BpfProgram {
  readonly #fd: number;
  readonly #owned: boolean;
  #closed = false;

  /** The file descriptor; throws after close() so a reused fd number is never touched. */
  get fd(): number {
    if (this.#closed) {
      throw new SterletError('BPF_HANDLE_CLOSED', `program fd ${this.#fd} was closed`, { fix: 'do not use a handle after close()' });
    }
    return this.#fd;
  }

  constructor(fd: number, options: { owned?: boolean } = {}) {
    this.#fd = fd;
    this.#owned = options.owned ?? true;
  }

  static fromPinned(path: string): BpfProgram {
    const fd = check('bpf_obj_get', () => c.objGet(path) as number, { path });
    return adopt(fd, path);
  }

  static fromId(id: number): BpfProgram {
    const fd = check('bpf_prog_get_fd_by_id', () => c.progGetFdById(id) as number, { details: { id } });
    return adopt(fd, `program id ${id}`);
  }

  info(): ProgramInfo {
    return progInfoByFd(this.fd);
  }

  pin(path: string): void {
    check('bpf_obj_pin', () => c.objPin(this.fd, path) as number, { path });
  }

  testRun(o: TestRunOptions): TestRunResult {
    const outSize = o.dataOutSize ?? o.data.length + 256;
    const ctxLen = o.ctxIn?.length ?? 0;
    // Layout in scratch memory: [opts][data in][data out][ctx in].
    const dataIn = OPTS_SIZE;
    const dataOut = dataIn + o.data.length;
    const ctxIn = dataOut + outSize;
    const s = scratchOf(ctxIn + ctxLen);
    const b = s.bytes;
    b.fill(0, 0, OPTS_SIZE);
    b.writeBigUInt64LE(BigInt(OPTS_SIZE), OFF.sz);
    b.writeBigUInt64LE(s.address + BigInt(dataIn), OFF.data_in);
    b.writeBigUInt64LE(s.address + BigInt(dataOut), OFF.data_out);
    b.writeUInt32LE(o.data.length, OFF.data_size_in);
    b.writeUInt32LE(outSize, OFF.data_size_out);
    if (o.ctxIn !== undefined) {
      o.ctxIn.copy(b, ctxIn);
      b.writeBigUInt64LE(s.address + BigInt(ctxIn), OFF.ctx_in);
      b.writeUInt32LE(ctxLen, OFF.ctx_size_in);
    }
    b.writeInt32LE(o.repeat ?? 1, OFF.repeat);
    b.writeUInt32LE(o.flags ?? 0, OFF.flags);
    b.writeUInt32LE(o.cpu ?? 0, OFF.cpu);
    o.data.copy(b, dataIn);
    check('bpf_prog_test_run_opts', () => c.progTestRun(this.fd, s.ptr) as number, {
      details: { dataSize: o.data.length, dataOutSize: outSize },
    });
    const outLen = Math.min(b.readUInt32LE(OFF.data_size_out), outSize);
    return {
      retval: b.readUInt32LE(OFF.retval),
      data: Buffer.from(b.subarray(dataOut, dataOut + outLen)),
      durationNs: b.readUInt32LE(OFF.duration),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) closeFd(this.#fd);
  }
}

/** struct bpf_prog_info of any program fd, including the ids of the maps it uses. */
export function progInfoByFd(fd: number): ProgramInfo {
  const first: Record<string, unknown> = {};
  check('bpf_obj_get_info_by_fd', () => c.objGetProgInfo(fd, first, [PROG_INFO_SIZE]) as number);
  const nrMaps = Number(first['nr_map_ids'] ?? 0);
  // Second call with room for the map ids: map_ids is a user pointer inside the struct.
  const ids = Buffer.alloc(4 * Math.max(nrMaps, 1));
  const info: Record<string, unknown> = { nr_map_ids: nrMaps, map_ids: nrMaps > 0 ? ids : null };
  check('bpf_obj_get_info_by_fd', () => c.objGetProgInfo(fd, info, [PROG_INFO_SIZE]) as number);
  const filled = Math.min(nrMaps, Number(info['nr_map_ids'] ?? 0));
  const mapIds: number[] = [];
  for (let i = 0; i < filled; i++) mapIds.push(ids.readUInt32LE(i * 4));
  return {
    type: Number(info['type']),
    id: Number(info['id']),
    tag: Buffer.from(info['tag'] as number[]).toString('hex'),
    name: String(info['name'] ?? ''),
    mapIds,
  };
}

function adopt(fd: number, what: string): BpfProgram {
  const prog = new BpfProgram(fd);
  try {
    prog.info();
    return prog;
  } catch (err) {
    prog.close();
    throw new SterletError('BPF_NOT_A_PROGRAM', `${what} is not a BPF program`, { cause: err, fix: 'check the pin path or id' });
  }
}
