// --xdp-chain against the real kernel (src/agent/dataplane/chain.ts): the root
// program runs a filter stage before the balancer (checked with
// BPF_PROG_TEST_RUN of the attached root), the balancer's slot is swapped on
// upgrade and kept on restart, the two modes are not mixed by accident, a
// program that cannot chain is refused untouched, and detach hands the
// interface back to the filter.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BpfMap, BpfObject, BpfProgram, xdpAttach, XdpAction, xdpQuery } from '../../src/libbpf/libbpf.ts';
import { u32 } from '../../src/agent/dataplane/codec.ts';
import { Stat } from '../../src/agent/dataplane/counters.ts';
import { BALANCER_SLOT, chainPins, STAGES_MAP, UPSTREAM_SLOT } from '../../src/agent/dataplane/chain.ts';
import { detachDataplane } from '../../src/agent/dataplane/detach.ts';
import { startBalancer, type RunningBalancer, type StartBalancerOptions } from '../../src/agent/dataplane/startup.ts';
import type { Log } from '../../src/common/log.ts';
import { build } from '../../src/packet/build.ts';
import { clientFrame } from './harness/frames.ts';
import { addVeth, compileBpf, removeVeth } from './harness/veth.ts';

const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const veth = `stch${tag}`.slice(0, 15);
const peer = `stcp${tag}`.slice(0, 15);
let bpffs: string;
let scratch: string;
let variant: string;
let filterObject: string;
let plainObject: string;
let ifindex: number;

const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const options = (extra: Partial<StartBalancerOptions> = {}): StartBalancerOptions => ({
  interfaceName: veth,
  ifindex,
  bpffs,
  xdpMode: 'native',
  sizes: { maxVips: 4, maxReals: 17, ringSize: 13, lruSize: 256, fallbackLruSize: 256 },
  forwardingCpus: [{ cpu: 0, numaNode: 0 }, { cpu: 1, numaNode: 0 }],
  settings: {
    gatewayMac: '02:00:00:00:00:01',
    mtu: 0,
    gueDestinationPort: 6080,
    sourcePrefixV4: { address: '172.16.0.0', hostBits: 16 },
    sourcePrefixV6: { address: 'fd00:5354::', hostBits: 32 },
    udpTimeout: 30,
  },
  chain: true,
  log: quiet,
  ...extra,
});

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sterlet-chain-'));
  variant = compileBpf('bpf/balancer.bpf.c', join(scratch, 'balancer-v2.bpf.o'), 'v2');
  filterObject = compileBpf('test/e2e/progs/xdp_filter_stage.bpf.c', join(scratch, 'filter.bpf.o'));
  plainObject = compileBpf('test/e2e/progs/xdp_pass.bpf.c', join(scratch, 'xdp_pass.bpf.o'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

beforeEach(() => {
  ifindex = addVeth(veth, peer);
  bpffs = join('/sys/fs/bpf', `sterlet-chain-${tag}`);
});
afterEach(() => removeVeth(veth, bpffs));

/** Loads an XDP object and attaches its one program alone, as xdp-loader or `ip link` would. */
function attachAlone(path: string): number {
  const obj = BpfObject.open(path);
  try {
    obj.load();
    const name = obj.programs()[0] ?? '';
    const prog = obj.program(name).asProgram();
    xdpAttach(ifindex, prog.fd, { mode: 'native' });
    const id = prog.info().id;
    prog.close();
    return id;
  } finally {
    obj.close(); // the attachment keeps the program (and its maps) alive
  }
}

function attachedName(): string {
  const attached = BpfProgram.fromId(xdpQuery(ifindex).progId);
  try {
    return attached.info().name;
  } finally {
    attached.close();
  }
}

function slotProgram(slot: number): number | undefined {
  const stages = BpfMap.fromPinned(chainPins(bpffs).stages);
  try {
    return stages.lookup(u32(slot))?.readUInt32LE(0);
  } finally {
    stages.close();
  }
}

function passedNotVip(b: RunningBalancer): number {
  return (b.maps.stats.lookupPerCpu(u32(Stat.passNotVip)) ?? []).reduce((sum, v) => sum + Number(v.readBigUInt64LE(0)), 0);
}

/** One frame through whatever is attached (the root), as the NIC would hand it over. */
function runAttached(src: string): number {
  const attached = BpfProgram.fromId(xdpQuery(ifindex).progId);
  try {
    const frame = build(clientFrame({ protocol: 'TCP', src, sport: 40000, dst: '198.51.100.9', dport: 80 }));
    return attached.testRun({ data: frame }).retval;
  } finally {
    attached.close();
  }
}

describe('XDP chain (--xdp-chain)', () => {
  it('puts a filter found on the interface in front of the balancer: blocked source dropped, the rest reaches the balancer', () => {
    const filterId = attachAlone(filterObject);
    const b = startBalancer(options());
    try {
      expect(b.outcome).toBe('created');
      expect(attachedName()).toBe('xdp_chain');
      expect(b.interfaceProgramId, 'what "still attached" checks (BGP withdrawal) look for').toBe(xdpQuery(ifindex).progId);
      expect(b.programId).not.toBe(b.interfaceProgramId);
      expect(slotProgram(UPSTREAM_SLOT)).toBe(filterId);
      expect(slotProgram(BALANCER_SLOT)).toBe(b.programId);

      const before = passedNotVip(b);
      expect(runAttached('10.111.0.66'), 'the filter drops its blocked source').toBe(XdpAction.DROP);
      expect(passedNotVip(b), 'a dropped packet never reaches the balancer').toBe(before);
      expect(runAttached('192.0.2.7')).toBe(XdpAction.PASS);
      expect(passedNotVip(b), 'the balancer saw the packet the filter let through').toBe(before + 1);
    } finally {
      b.close();
    }

    const left = detachDataplane({ interfaceName: veth, ifindex, bpffs });
    expect(left.restored).toEqual({ id: filterId, name: 'xdp_filter' });
    expect(xdpQuery(ifindex).progId, 'the filter runs alone again').toBe(filterId);
    expect(existsSync(bpffs) ? readdirSync(bpffs) : []).toEqual([]);
    expect(runAttached('10.111.0.66')).toBe(XdpAction.DROP);
    expect(runAttached('192.0.2.7'), 'with the balancer slot emptied the filter passes').toBe(XdpAction.PASS);
  });

  it('keeps the balancer slot on restart, swaps it on upgrade, and never touches the root', () => {
    const first = startBalancer(options());
    const rootId = xdpQuery(ifindex).progId;
    expect(first.outcome).toBe('created');
    first.close();

    const again = startBalancer(options());
    expect(again.outcome).toBe('adopted');
    expect(again.programId).toBe(first.programId);
    expect(again.interfaceProgramId).toBe(rootId);
    again.close();

    const upgraded = startBalancer(options({ objectPath: variant }));
    expect(upgraded.outcome).toBe('upgraded');
    expect(upgraded.programId).not.toBe(first.programId);
    expect(slotProgram(BALANCER_SLOT)).toBe(upgraded.programId);
    expect(xdpQuery(ifindex).progId).toBe(rootId);
    const pinned = BpfProgram.fromPinned(join(bpffs, 'balancer_prog'));
    expect(pinned.info().id).toBe(upgraded.programId);
    pinned.close();
    upgraded.close();

    expect(() => startBalancer(options({ chain: false }))).toThrow(expect.objectContaining({ code: 'AGENT_XDP_CHAIN_MODE', message: expect.stringContaining('XDP chain') }));
    expect(xdpQuery(ifindex).progId).toBe(rootId);

    const left = detachDataplane({ interfaceName: veth, ifindex, bpffs });
    expect(left.detachedProgramId).toBe(rootId);
    expect(xdpQuery(ifindex).progId).toBe(0);
  });

  it('moves a balancer running alone into a chain without detaching it', () => {
    const alone = startBalancer(options({ chain: false }));
    alone.close();
    const chained = startBalancer(options());
    try {
      expect(chained.outcome).toBe('upgraded');
      expect(attachedName()).toBe('xdp_chain');
      expect(slotProgram(BALANCER_SLOT)).toBe(chained.programId);
      expect(slotProgram(UPSTREAM_SLOT)).toBeUndefined();
    } finally {
      chained.close();
    }
  });

  it('refuses a program that cannot chain and leaves it attached', () => {
    const plainId = attachAlone(plainObject);
    expect(() => startBalancer(options())).toThrow(
      expect.objectContaining({ code: 'AGENT_XDP_NOT_A_STAGE', message: expect.stringContaining('xdp_pass'), fix: expect.stringContaining('xdp_stage.h') }),
    );
    expect(xdpQuery(ifindex).progId).toBe(plainId);
    // The filter's object declares the stage array under the name the agent looks for.
    const obj = BpfObject.open(filterObject);
    expect(obj.maps()).toContain(STAGES_MAP);
    obj.close();
  });
});
