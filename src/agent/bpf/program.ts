// BpfProgram: a program fd with info, pinning and BPF_PROG_TEST_RUN.

import { SterletError } from '../../common/errors.ts';
import { check, closeFd } from './call.ts';
import { c, ProgInfoPrefix, sizeOf, TestRunOpts } from './ffi.ts';

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

export class BpfProgram {
  readonly fd: number;
  readonly #owned: boolean;
  #closed = false;

  constructor(fd: number, options: { owned?: boolean } = {}) {
    this.fd = fd;
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
    const out = Buffer.alloc(outSize);
    const opts = {
      sz: sizeOf(TestRunOpts),
      data_in: o.data,
      data_out: out,
      data_size_in: o.data.length,
      data_size_out: outSize,
      ctx_in: o.ctxIn ?? null,
      ctx_out: null,
      ctx_size_in: o.ctxIn?.length ?? 0,
      ctx_size_out: 0,
      retval: 0,
      repeat: o.repeat ?? 1,
      duration: 0,
      flags: o.flags ?? 0,
      cpu: o.cpu ?? 0,
      batch_size: 0,
    };
    check('bpf_prog_test_run_opts', () => c.progTestRun(this.fd, opts) as number, {
      details: { dataSize: o.data.length, dataOutSize: outSize },
    });
    return { retval: opts.retval, data: out.subarray(0, opts.data_size_out), durationNs: opts.duration };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) closeFd(this.fd);
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
