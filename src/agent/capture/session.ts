// One capture: turn the program's hook on, drain the ring buffer on a short
// timer into pcap records that pass the user-space filters, stop at the
// count, the duration or the signal, turn the hook off, drain what is left,
// and report what the kernel could not hand over (ring full, rate bound).

import { setTimeout as sleep } from 'node:timers/promises';
import { RingBufferReader } from '../../libbpf/libbpf.ts';
import { captureMissed, decodeCaptureRecord, encodeCaptureConfig, type CaptureMaps, type CaptureRecord } from './record.ts';
import { matchesFlow, type FlowFilter } from './filter.ts';
import { receivedFrame, viewFrame } from './frame-view.ts';
import { pcapFileHeader, pcapRecord } from './pcap.ts';

export interface CaptureOptions {
  readonly snaplen: number;
  /** Verdict bit mask (filter.ts verdictMask). */
  readonly verdicts: number;
  /** Records per CPU per ~1.07 s the kernel hands over; bounds what a capture costs. */
  readonly rate: number;
  readonly filter: FlowFilter;
  /** GUE destination port, to see through GUE encapsulation. */
  readonly guePort: number;
  /** Also write each forwarded frame as sent (encapsulated), after the frame as received. */
  readonly sent: boolean;
  /** Stop after this many packets (records written, counting a received/sent pair once). */
  readonly count?: number | undefined;
  readonly durationMs?: number | undefined;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
  /** Called once the program copies packets: what a "capturing" message waits for. */
  readonly onStart?: () => void;
}

export interface CaptureSummary {
  readonly packets: number;
  /** Packets of the chosen verdicts that the filters dropped (in the kernel, or in user space for a record the kernel handed over). */
  readonly filtered: number;
  /** Ring buffer full: the reader was behind. */
  readonly lost: number;
  /** Over the per-CPU rate bound. */
  readonly limited: number;
}

export async function runCapture(maps: CaptureMaps, write: (chunk: Buffer) => void, o: CaptureOptions): Promise<CaptureSummary> {
  // bpf_ktime_get_ns() is CLOCK_MONOTONIC, like process.hrtime: one offset to wall time.
  const wallOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  const before = captureMissed(maps.cpu);
  let packets = 0;
  let filtered = 0;
  let writeError: unknown;
  const done = (): boolean => writeError !== undefined || (o.count !== undefined && packets >= o.count);
  // Runs inside libbpf's callback: never throw through it (a closed stdout ends the capture).
  const onRecord = (rec: CaptureRecord): void => {
    if (done()) return;
    try {
      keep(rec);
    } catch (err) {
      writeError = err;
    }
  };
  const keep = (rec: CaptureRecord): void => {
    const view = viewFrame(rec.data, o.guePort);
    if (!matchesFlow(view, o.filter)) {
      filtered++;
      return;
    }
    const wall = rec.tsNs + wallOffset;
    const shown = view === undefined ? rec.data : receivedFrame(rec.data, view);
    const trimmed = rec.len - (rec.data.length - shown.length);
    write(pcapRecord(wall, shown, trimmed));
    if (o.sent && view?.encapsulated === true) write(pcapRecord(wall, rec.data, rec.len));
    packets++;
  };
  write(pcapFileHeader(o.snaplen));
  const reader = new RingBufferReader(maps.ring, (b) => onRecord(decodeCaptureRecord(b)));
  const key = Buffer.alloc(4);
  // The kernel drops what the filter rejects before the ring buffer; user space still checks every record (older builds filter nothing).
  const size = maps.cfg.valueSize;
  maps.cfg.update(key, encodeCaptureConfig({ on: true, snaplen: o.snaplen, verdicts: o.verdicts, rate: o.rate, filter: o.filter, guePort: o.guePort }, size));
  o.onStart?.();
  const deadline = o.durationMs === undefined ? Infinity : Date.now() + o.durationMs;
  try {
    while (!done() && Date.now() < deadline && o.signal?.aborted !== true) {
      reader.consume();
      await sleep(o.pollMs ?? 20).catch(() => undefined);
    }
  } finally {
    maps.cfg.update(key, encodeCaptureConfig({ on: false, snaplen: 0, verdicts: 0, rate: 0 }, size));
    reader.consume();
    reader.close();
  }
  if (writeError !== undefined && (writeError as { code?: unknown }).code !== 'EPIPE') throw writeError;
  const after = captureMissed(maps.cpu);
  return { packets, filtered: filtered + after.filtered - before.filtered, lost: after.lost - before.lost, limited: after.limited - before.limited };
}
