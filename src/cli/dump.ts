// `sterlet dump`: capture what the balancer handles as pcap, because tcpdump
// on the interface does not see packets XDP forwards or drops. Writes to
// --write FILE or stdout (`sterlet dump | tcpdump -r -`); ends at --count,
// --duration or Ctrl-C with the file complete, and says on stderr what the
// kernel could not hand over. --decap captures the backend decap program
// instead (frames as it hands them to the stack: decapsulated).

import { closeSync, openSync, writeSync } from 'node:fs';
import { BpfProgram } from '../libbpf/libbpf.ts';
import { decapVerdictMask, parseClient, parsePort, parseProto, parseVip, verdictMask, type FlowFilter } from '../agent/capture/filter.ts';
import type { CaptureMaps } from '../agent/capture/record.ts';
import { CAPTURE_SNAP_MAX, captureMapsOf } from '../agent/capture/record.ts';
import { runCapture } from '../agent/capture/session.ts';
import { u32 } from '../agent/dataplane/codec.ts';
import { openPinnedBalancer } from '../agent/dataplane/startup.ts';
import { balancerPins, DEFAULT_BPFFS, DEFAULT_DECAP_BPFFS, decapPins, isComplete } from '../agent/dataplane/pin-layout.ts';
import { BpfMap } from '../libbpf/libbpf.ts';
import { UsageError, parseFlags, type FlagSpec } from './args.ts';
import { decapNotPinned, notPinned } from './stats.ts';

export const DUMP_FLAGS: readonly FlagSpec[] = [
  { name: 'bpffs', type: 'string', help: `bpffs directory of the running agent (with --decap: default ${DEFAULT_DECAP_BPFFS})`, default: DEFAULT_BPFFS },
  { name: 'decap', type: 'boolean', help: 'capture the backend decap program (frames as it passes them on: decapsulated) instead of the balancer' },
  { name: 'write', type: 'string', help: 'pcap file to write ("-" = stdout)', default: '-' },
  { name: 'vip', type: 'string', help: 'only flows to this VIP: ADDR[:PORT[/PROTO]], IPv6 as [addr]:port' },
  { name: 'client', type: 'string', help: 'only flows from this client address or prefix, e.g. 192.0.2.0/24' },
  { name: 'port', type: 'number', help: 'only flows with this source or destination port' },
  { name: 'proto', type: 'string', help: 'only this protocol: tcp, udp, icmp, icmp6' },
  { name: 'verdict', type: 'string', help: 'comma-separated: forwarded, answered, passed, dropped, or counter names such as dropNoReal (--decap: decapsulated, passed, dropped, passNotLocal, ...; default: all)' },
  { name: 'snaplen', type: 'number', help: `bytes kept per packet (at most ${CAPTURE_SNAP_MAX})`, default: 256 },
  { name: 'count', type: 'number', help: 'stop after this many packets' },
  { name: 'duration', type: 'number', help: 'stop after this many seconds' },
  { name: 'rate', type: 'number', help: 'packets per CPU per second the program hands over at most (bounds the cost on forwarding; 0 = no bound)', default: 10000 },
  { name: 'sent', type: 'boolean', help: 'also write each forwarded packet as sent (encapsulated), after the packet as received' },
];

export async function dumpCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('dump', argv, DUMP_FLAGS);
  const snaplen = f.num('snaplen') ?? 256;
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > CAPTURE_SNAP_MAX) throw new UsageError(`--snaplen ${snaplen} is out of range`, `pass 1-${CAPTURE_SNAP_MAX}`);
  const count = f.num('count');
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new UsageError(`--count ${count} is not a packet count`, 'pass a whole number >= 1');
  const duration = f.num('duration');
  if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration ${duration} is not a number of seconds`, 'pass seconds > 0');
  const rate = f.num('rate') ?? 10000;
  if (!Number.isInteger(rate) || rate < 0) throw new UsageError(`--rate ${rate} is not a packet rate`, 'pass a whole number >= 0');
  const filter: FlowFilter = {
    ...(f.has('vip') ? { vip: parseVip(f.str('vip') ?? '') } : {}),
    ...(f.has('client') ? { client: parseClient(f.str('client') ?? '') } : {}),
    ...(f.has('port') ? { port: parsePort(f.num('port') ?? 0, '--port') } : {}),
    ...(f.has('proto') ? { proto: parseProto(f.str('proto') ?? '', '--proto') } : {}),
  };
  const decap = f.bool('decap');
  if (decap && f.bool('sent')) throw new UsageError('--sent is for the balancer', 'the decap program does not encapsulate: drop --sent (its frames are written as it passes them on)');
  const verdicts = decap ? decapVerdictMask(f.str('verdict')) : verdictMask(f.str('verdict'));

  const bpffs = decap && !f.has('bpffs') ? DEFAULT_DECAP_BPFFS : (f.str('bpffs') ?? DEFAULT_BPFFS);
  const { maps, guePort } = decap ? decapCapture(bpffs) : balancerCapture(bpffs);
  const target = f.str('write') ?? '-';
  const fd = target === '-' ? 1 : openSync(target, 'w');
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Said once the hook copies packets, so whoever waits for it misses none.
    const onStart = (): void => void process.stderr.write(`capturing from ${bpffs} to ${target === '-' ? 'stdout' : target} (Ctrl-C to stop)\n`);
    const summary = await runCapture(maps, (chunk) => void writeSync(fd, chunk), {
      snaplen, verdicts, rate, filter, guePort, sent: f.bool('sent'), count, durationMs: duration === undefined ? undefined : duration * 1000, signal: stop.signal, onStart,
    });
    process.stderr.write(
      `${summary.packets} packets captured; ${summary.filtered} seen but filtered out; ${summary.lost} lost (ring buffer full); ${summary.limited} over the --rate bound\n`,
    );
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    maps.close();
    if (fd !== 1) closeSync(fd);
  }
}

function balancerCapture(bpffs: string): { maps: CaptureMaps; guePort: number } {
  const pinned = openPinnedBalancer(bpffs);
  if (pinned === undefined) throw notPinned(bpffs);
  const program = BpfProgram.fromPinned(balancerPins(bpffs).program);
  try {
    const guePort = pinned.maps.settings.lookup(u32(0))?.readUInt16BE(12) ?? 6080;
    return { maps: captureMapsOf(program.info().mapIds), guePort };
  } finally {
    program.close();
    pinned.close();
  }
}

function decapCapture(bpffs: string): { maps: CaptureMaps; guePort: number } {
  const pins = decapPins(bpffs);
  if (!isComplete(pins)) throw decapNotPinned(bpffs);
  const settings = BpfMap.fromPinned(pins.marker);
  const program = BpfProgram.fromPinned(pins.program);
  try {
    // struct decap_settings: layout version, then the GUE port (network order).
    const guePort = settings.lookup(u32(0))?.readUInt16BE(4) ?? 6080;
    return { maps: captureMapsOf(program.info().mapIds, 'decap'), guePort };
  } finally {
    program.close();
    settings.close();
  }
}
