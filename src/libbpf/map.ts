// BpfMap: a map file descriptor with typed element, batch and iteration
// operations. Keys and values are raw Buffers; codecs live above this layer.

import { getSystemErrorName } from 'node:util';
import { SterletError } from '../common/errors.ts';
import { check, closeFd, errnoFrom } from './call.ts';
import { BATCH_MAP_TYPES, BPF_ANY, MapType, BPF_F_NO_COMMON_LRU, BPF_F_NUMA_NODE, PERCPU_MAP_TYPES } from './constants.ts';
import { BpfError } from './errors.ts';
import { c, clearWarnings, MapBatchOpts, MapCreateOpts, sizeOf } from './ffi.ts';
import { readBatches, readRange } from './batch.ts';
import { joinPerCpu, mapInfoByFd, possibleCpus, roundUp8, splitPerCpu, type MapInfo } from './map-info.ts';

export interface MapCreateOptions {
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  /** Allocate on this NUMA node (sets BPF_F_NUMA_NODE). */
  readonly numaNode?: number;
  /** Template inner map for ARRAY_OF_MAPS / HASH_OF_MAPS. */
  readonly innerMapFd?: number;
}

export interface BatchResult {
  readonly keys: Buffer;
  readonly values: Buffer;
  readonly count: number;
}

export class BpfMap {
  readonly #fd: number;
  readonly type: number;
  readonly keySize: number;
  /** Value size as the kernel declares it (one CPU's slot for per-CPU maps). */
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly name: string;
  /** Bytes of a value buffer in user space: per-CPU maps hold round_up(valueSize, 8) x possibleCpus(). */
  readonly userValueSize: number;
  readonly #owned: boolean;
  #closed = false;

  /** The file descriptor; throws after close() so a reused fd number is never touched. */
  get fd(): number {
    if (this.#closed) {
      throw new SterletError('BPF_HANDLE_CLOSED', `map ${this.name} (fd ${this.#fd}) was closed`, { fix: 'do not use a handle after close()' });
    }
    return this.#fd;
  }

  /** Wrap an fd; with `owned` the map closes it on close(). */
  constructor(fd: number, options: { owned?: boolean } = {}) {
    const info = mapInfoByFd(fd);
    this.#fd = fd;
    this.#owned = options.owned ?? true;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.name = info.name;
    this.userValueSize = PERCPU_MAP_TYPES.has(info.type) ? roundUp8(info.valueSize) * possibleCpus() : info.valueSize;
  }

  static create(o: MapCreateOptions): BpfMap {
    let flags = o.flags ?? 0;
    if (o.numaNode !== undefined) flags |= BPF_F_NUMA_NODE;
    const opts = {
      sz: sizeOf(MapCreateOpts),
      inner_map_fd: o.innerMapFd ?? 0,
      map_flags: flags,
      numa_node: o.numaNode ?? 0,
    };
    const fd = check(
      'bpf_map_create',
      () => c.mapCreate(o.type, o.name, o.keySize, o.valueSize, o.maxEntries, opts) as number,
      {
        name: o.name,
        ...(o.numaNode !== undefined ? { numaNode: o.numaNode } : {}),
        perCpu: PERCPU_MAP_TYPES.has(o.type) || (flags & BPF_F_NO_COMMON_LRU) !== 0,
        details: { type: o.type, keySize: o.keySize, valueSize: o.valueSize, maxEntries: o.maxEntries, flags },
      },
    );
    return new BpfMap(fd);
  }

  static fromPinned(path: string): BpfMap {
    const fd = check('bpf_obj_get', () => c.objGet(path) as number, { path });
    return adopt(fd, path);
  }

  static fromId(id: number): BpfMap {
    const fd = check('bpf_map_get_fd_by_id', () => c.mapGetFdById(id) as number, { details: { id } });
    return adopt(fd, `map id ${id}`);
  }

  info(): MapInfo {
    return mapInfoByFd(this.fd);
  }

  get isPerCpu(): boolean {
    return PERCPU_MAP_TYPES.has(this.type);
  }

  /** Raw value; for per-CPU maps all CPUs' slots concatenated (see lookupPerCpu). */
  lookup(key: Buffer): Buffer | undefined {
    this.#checkKey(key);
    const value = Buffer.alloc(this.userValueSize);
    clearWarnings();
    const ret = c.mapLookup(this.fd, key, value) as number;
    if (ret < 0) {
      const errno = errnoFrom(ret);
      if (errnoName(errno) === 'ENOENT') return undefined;
      throw new BpfError('bpf_map_lookup_elem', errno, { name: this.name });
    }
    return value;
  }

  /** Per-CPU value as one Buffer (valueSize bytes) per possible CPU. */
  lookupPerCpu(key: Buffer): Buffer[] | undefined {
    if (!this.isPerCpu) throw this.#usage('lookupPerCpu needs a per-CPU map');
    const raw = this.lookup(key);
    return raw === undefined ? undefined : splitPerCpu(raw, this.valueSize);
  }

  update(key: Buffer, value: Buffer, flags: number = BPF_ANY): void {
    this.#checkKey(key);
    this.#checkValue(value, 1);
    check('bpf_map_update_elem', () => c.mapUpdate(this.fd, key, value, flags) as number, { name: this.name });
  }

  /** Per-CPU update from one Buffer (valueSize bytes) per possible CPU; missing CPUs get zeros. */
  updatePerCpu(key: Buffer, values: readonly Buffer[], flags: number = BPF_ANY): void {
    if (!this.isPerCpu) throw this.#usage('updatePerCpu needs a per-CPU map');
    if (values.length > possibleCpus() || values.some((v) => v.length !== this.valueSize)) {
      throw this.#usage(`updatePerCpu takes up to ${possibleCpus()} values of ${this.valueSize} bytes`);
    }
    this.update(key, joinPerCpu(values, this.valueSize), flags);
  }

  /** Deletes `key`; false when it was not present. */
  delete(key: Buffer): boolean {
    this.#checkKey(key);
    clearWarnings();
    const ret = c.mapDelete(this.fd, key) as number;
    if (ret < 0) {
      const errno = errnoFrom(ret);
      if (errnoName(errno) === 'ENOENT') return false;
      throw new BpfError('bpf_map_delete_elem', errno, { name: this.name });
    }
    return true;
  }

  /** Insert or update `count` entries at once; keys and values are concatenated records. */
  updateBatch(keys: Buffer, values: Buffer, count: number, flags: number = BPF_ANY): void {
    if (count === 0) return;
    this.#checkRecords(keys, this.keySize, count, 'keys');
    this.#checkValue(values, count);
    const n = [count];
    const opts = { sz: sizeOf(MapBatchOpts), elem_flags: flags, flags: 0 };
    check('bpf_map_update_batch', () => c.mapUpdateBatch(this.fd, keys, values, n, opts) as number, {
      name: this.name,
      details: { count, done: n[0] },
    });
  }

  /** Delete `count` keys at once; every key must exist (the kernel stops at the first ENOENT). */
  deleteBatch(keys: Buffer, count: number): void {
    if (count === 0) return;
    this.#checkRecords(keys, this.keySize, count, 'keys');
    const n = [count];
    const opts = { sz: sizeOf(MapBatchOpts), elem_flags: 0, flags: 0 };
    check('bpf_map_delete_batch', () => c.mapDeleteBatch(this.fd, keys, n, opts) as number, {
      name: this.name,
      details: { count, done: n[0] },
    });
  }

  /** Every entry via BPF_MAP_LOOKUP_BATCH, as concatenated key and value records. */
  lookupBatch(options: { chunk?: number } = {}): BatchResult {
    const keyParts: Buffer[] = [];
    const valueParts: Buffer[] = [];
    let total = 0;
    for (const part of readBatches(this, options.chunk ?? 256)) {
      keyParts.push(part.keys);
      valueParts.push(part.values);
      total += part.count;
    }
    return { keys: Buffer.concat(keyParts), values: Buffer.concat(valueParts), count: total };
  }

  /** The whole map in BPF_MAP_LOOKUP_BATCH chunks of about `chunk` entries, for callers that yield between them. */
  batches(chunk = 4096): Generator<BatchResult> {
    return readBatches(this, chunk);
  }

  /** Keys in kernel order via bpf_map_get_next_key. */
  *keys(): Generator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      const ret = c.mapNextKey(this.fd, prev, next) as number;
      if (ret < 0) {
        const errno = errnoFrom(ret);
        if (errnoName(errno) === 'ENOENT') return;
        throw new BpfError('bpf_map_get_next_key', errno, { name: this.name });
      }
      yield next;
      prev = next;
    }
  }

  /** [key, value] pairs; batched where the map type supports it, else key by key. */
  *entries(): Generator<[Buffer, Buffer]> {
    if (BATCH_MAP_TYPES.has(this.type)) {
      for (const part of readBatches(this, 256)) {
        for (let i = 0; i < part.count; i++) {
          yield [
            part.keys.subarray(i * this.keySize, (i + 1) * this.keySize),
            part.values.subarray(i * this.userValueSize, (i + 1) * this.userValueSize),
          ];
        }
      }
      return;
    }
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value !== undefined) yield [key, value]; // deleted while iterating
    }
  }

  pin(path: string): void {
    check('bpf_obj_pin', () => c.objPin(this.fd, path) as number, { path, name: this.name });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) closeFd(this.#fd);
  }

  /**
   * Values of indices start..start+count-1 of an ARRAY / PERCPU_ARRAY map,
   * concatenated (userValueSize bytes each), read with batch lookups that
   * start mid-map.
   */
  lookupRange(start: number, count: number): Buffer {
    const isArray = this.type === MapType.ARRAY || this.type === MapType.PERCPU_ARRAY;
    if (!isArray || this.keySize !== 4 || !Number.isInteger(start) || start < 0 || count < 0 || start + count > this.maxEntries) {
      throw this.#usage(`cannot read indices ${start}..${start + count - 1} of map ${this.name} (${this.maxEntries} entries, type ${this.type})`);
    }
    return readRange(this, start, count);
  }

  #checkKey(key: Buffer): void {
    if (key.length !== this.keySize) throw this.#usage(`key is ${key.length} bytes, map ${this.name} has ${this.keySize}-byte keys`);
  }

  #checkValue(value: Buffer, count: number): void {
    const want = this.userValueSize * count;
    if (value.length !== want) {
      const per = this.isPerCpu ? ` (per-CPU: round_up(${this.valueSize}, 8) x ${possibleCpus()} CPUs per entry)` : '';
      throw this.#usage(`value buffer is ${value.length} bytes, map ${this.name} needs ${want}${per}`);
    }
  }

  #checkRecords(buf: Buffer, size: number, count: number, what: string): void {
    if (buf.length !== size * count) throw this.#usage(`${what} buffer is ${buf.length} bytes, expected ${count} x ${size}`);
  }

  #usage(what: string): SterletError {
    // Checked before the call: a short buffer would let the kernel read past it.
    return new SterletError('BPF_BUFFER_SIZE', what, { fix: 'pass buffers of exactly the map key/value size' });
  }
}

function adopt(fd: number, what: string): BpfMap {
  try {
    return new BpfMap(fd);
  } catch (err) {
    closeFd(fd);
    throw new SterletError('BPF_NOT_A_MAP', `${what} is not a BPF map`, { cause: err, fix: 'check the pin path or id' });
  }
}

function errnoName(errno: number): string {
  return getSystemErrorName(-errno);
}

