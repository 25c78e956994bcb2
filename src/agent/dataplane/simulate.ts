// `sterlet simulate`: build the client's first packet of a flow, run it
// through the LIVE balancer program with BPF_PROG_TEST_RUN, and decode what
// it did: the verdict and, when forwarded, which backend the outer header
// addresses. The run uses the real maps, so it is counted like any packet
// and may add one connection-table entry for the simulated flow.

import { build, eth, ipv4, ipv6, parseFrame, tcp, udp, type IpLayer, type Layer, type Payload } from '../../packet/index.ts';
import { XdpAction, type BpfProgram } from '../../libbpf/libbpf.ts';
import type { FlowSpec } from './flow-spec.ts';

export interface SimulateResult {
  readonly verdict: 'ABORTED' | 'DROP' | 'PASS' | 'TX' | 'REDIRECT' | `UNKNOWN(${number})`;
  /** Outer destination of an encapsulated packet: the chosen backend. */
  readonly backend?: string;
  readonly encapsulation?: 'IPIP' | 'IP6IP6' | '4in6' | 'GUE';
  readonly outerSource?: string;
  /** Output frame as hex, for debugging. */
  readonly frame: string;
}

export interface SimulateOptions {
  /** TCP flags of the simulated packet: 'S' (new connection, default) or e.g. 'A' (an established flow, via the connection table). */
  readonly tcpFlags?: string;
  /** GUE destination port programmed in the settings (to recognise GUE output). Default 6080. */
  readonly guePort?: number;
}

export function simulateFlow(program: BpfProgram, flow: FlowSpec, options: SimulateOptions = {}): SimulateResult {
  const l4: Layer =
    flow.protocol === 'TCP'
      ? tcp({ sport: flow.src.port, dport: flow.dst.port, flags: options.tcpFlags ?? 'S', seq: 1 })
      : udp({ sport: flow.src.port, dport: flow.dst.port }, Buffer.alloc(32, 0x51));
  const ip = flow.family === 'IPv4' ? ipv4({ src: flow.src.address, dst: flow.dst.address }, l4) : ipv6({ src: flow.src.address, dst: flow.dst.address }, l4);
  const frame = build(eth({}, ip));
  const run = program.testRun({ data: frame });
  const name = (Object.keys(XdpAction) as (keyof typeof XdpAction)[]).find((k) => XdpAction[k] === run.retval);
  const verdict: SimulateResult['verdict'] = name ?? `UNKNOWN(${run.retval})`;
  const out: SimulateResult = { verdict, frame: run.data.toString('hex') };
  if (verdict !== 'TX') return out;
  const outer = parseFrame(run.data, { guePorts: [options.guePort ?? 6080] }).payload;
  if (!isIp(outer)) return out;
  const inner = tunnelled(outer);
  if (inner === undefined) return out;
  return { ...out, backend: outer.dst, outerSource: outer.src, encapsulation: inner.kind };
}

function isIp(p: Payload | undefined): p is IpLayer {
  return p !== undefined && !Buffer.isBuffer(p) && (p.kind === 'ipv4' || p.kind === 'ipv6');
}

function tunnelled(outer: IpLayer): { kind: NonNullable<SimulateResult['encapsulation']> } | undefined {
  const p = outer.payload;
  if (p === undefined || Buffer.isBuffer(p)) return undefined;
  if (p.kind === 'udp' && p.payload !== undefined && !Buffer.isBuffer(p.payload) && p.payload.kind === 'gue') return { kind: 'GUE' };
  if (p.kind === 'ipv4') return { kind: outer.kind === 'ipv6' ? '4in6' : 'IPIP' };
  if (p.kind === 'ipv6') return { kind: 'IP6IP6' };
  return undefined;
}
