// Reading a BPF_MAP_TYPE_RINGBUF map through libbpf's ring_buffer API: each
// consume() drains what the programs submitted so far and hands every record
// to the callback as a copied Buffer. Non-blocking, so the caller polls on a
// timer and the event loop stays free.

import koffi from 'koffi';
import { SterletError } from '../common/errors.ts';
import { checkPtr, errnoFrom } from './call.ts';
import { BpfError } from './errors.ts';
import { MapType } from './constants.ts';
import { c, RingSampleFn } from './ffi.ts';
import type { BpfMap } from './map.ts';

export class RingBufferReader {
  readonly #rb: unknown;
  readonly #callback: bigint;
  #closed = false;

  constructor(map: BpfMap, onRecord: (record: Buffer) => void) {
    if (map.type !== MapType.RINGBUF) {
      throw new SterletError('BPF_NOT_A_RINGBUF', `map ${map.name} is not a ring buffer (type ${map.type})`, { fix: 'pass the BPF_MAP_TYPE_RINGBUF map' });
    }
    this.#callback = koffi.register((_ctx: unknown, data: unknown, size: number | bigint): number => {
      onRecord(Buffer.from(koffi.view(data, Number(size))));
      return 0;
    }, koffi.pointer(RingSampleFn));
    try {
      this.#rb = checkPtr('ring_buffer__new', () => c.ringBufferNew(map.fd, this.#callback, null, null) as unknown, { name: map.name });
    } catch (err) {
      koffi.unregister(this.#callback);
      throw err;
    }
  }

  /** Hands every record submitted so far to the callback; returns how many. */
  consume(): number {
    if (this.#closed) return 0;
    const n = c.ringBufferConsume(this.#rb) as number;
    if (n < 0) throw new BpfError('ring_buffer__consume', errnoFrom(n));
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    c.ringBufferFree(this.#rb);
    koffi.unregister(this.#callback);
  }
}
