// sterlet dump's capture path against the real kernel: the balancer's hook
// copies frames into its ring buffer only while the capture is on; the
// session keeps the frames that pass the filters and writes pcap that
// tcpdump reads back with the packets the client sent.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureMapsOf, captureMissed, type CaptureMaps } from '../../src/agent/capture/record.ts';
import { decapVerdictMask, parseClient, parsePort, parseProto, parseVip, verdictMask } from '../../src/agent/capture/filter.ts';
import { runCapture } from '../../src/agent/capture/session.ts';
import { build } from '../../src/packet/build.ts';
import { BalancerEnv } from './harness/balancer-env.ts';
import { DecapEnv, LOCAL4 } from './harness/decap-env.ts';
import type { EthLayer } from '../../src/packet/types.ts';
import { clientFrame, flowTo } from './harness/frames.ts';

const C4 = '192.0.2.7';

/** Records of a classic pcap file: [tsSec, tsUsec, data, origLen]. */
function readPcap(b: Buffer): { ts: number; data: Buffer; origLen: number }[] {
  expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
  expect(b.readUInt32LE(20)).toBe(1);
  const out: { ts: number; data: Buffer; origLen: number }[] = [];
  for (let off = 24; off < b.length; ) {
    const incl = b.readUInt32LE(off + 8);
    out.push({ ts: b.readUInt32LE(off) + b.readUInt32LE(off + 4) / 1e6, data: b.subarray(off + 16, off + 16 + incl), origLen: b.readUInt32LE(off + 12) });
    off += 16 + incl;
  }
  return out;
}

describe('capture (sterlet dump --decap) on the loaded decap program', () => {
  let decap: DecapEnv | undefined;
  let maps: CaptureMaps | undefined;
  afterEach(() => {
    maps?.close();
    decap?.close();
    decap = undefined;
    maps = undefined;
  });

  const tunnel = (dst: string, sport: number): EthLayer => ({
    kind: 'eth', src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b',
    payload: { kind: 'ipv4', src: '172.16.1.2', dst, payload: { kind: 'ipv4', src: C4, dst: '10.200.0.10', payload: { kind: 'tcp', sport, dport: 80, flags: 'A' } } },
  });

  it('writes the frames the decap program passes on, decapsulated, for the chosen verdicts only', async () => {
    decap = new DecapEnv();
    maps = captureMapsOf(decap.decap.program.info().mapIds, 'decap');
    decap.run(build(tunnel(LOCAL4, 47000))); // off: nothing recorded
    const chunks: Buffer[] = [];
    const session = runCapture(maps, (c) => chunks.push(c), {
      snaplen: 512, verdicts: decapVerdictMask('decapsulated'), rate: 0, filter: { client: parseClient(C4) }, guePort: 6080, sent: false, count: 2, pollMs: 5,
    });
    const outputs = [47001, 47002].map((sport) => {
      decap!.run(build(tunnel('10.0.1.99', sport + 100))); // not local: passNotLocal, not chosen
      const r = decap!.run(build(tunnel(LOCAL4, sport)));
      expect(r.retval).toBe(2);
      return r.data;
    });
    expect(await session).toEqual({ packets: 2, filtered: 0, lost: 0, limited: 0 });
    const recs = readPcap(Buffer.concat(chunks));
    expect(recs.map((r) => r.data.toString('hex'))).toEqual(outputs.map((o) => o.toString('hex')));
    expect(decapVerdictMask('dropped')).toBe((1 << 8) | (1 << 9));
    expect(() => decapVerdictMask('forwarded')).toThrow(/--verdict "forwarded" is not a verdict.*decapsulated/s);
  });
});

describe('capture (sterlet dump) on the loaded balancer', () => {
  let env: BalancerEnv | undefined;
  let maps: CaptureMaps | undefined;
  const dirs: string[] = [];
  afterEach(() => {
    maps?.close();
    env?.close();
    env = undefined;
    maps = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes pcap of one client\'s packets, received and as sent, that tcpdump reads', async () => {
    env = new BalancerEnv();
    maps = captureMapsOf(env.lb.program().info().mapIds);
    // Off: the ring stays empty.
    env.run(build(clientFrame(flowTo('web4', C4, 45000), { flags: 'A' })));

    const chunks: Buffer[] = [];
    const startedMs = Date.now();
    const session = runCapture(maps, (c) => chunks.push(c), {
      snaplen: 512, verdicts: verdictMask(undefined), rate: 0, filter: { client: parseClient(C4) }, guePort: 6080, sent: true, count: 3, pollMs: 5,
    });
    const mine = [flowTo('web4', C4, 45001), flowTo('web4', C4, 45002)];
    const inputs = mine.map((f) => build(clientFrame(f, { flags: 'A', payload: Buffer.from('GET / HTTP/1.1\r\n\r\n') })));
    const outputs = inputs.map((frame) => {
      const r = env!.run(frame);
      expect(r.retval).toBe(3);
      return r.data;
    });
    env.run(build(clientFrame(flowTo('web4', '198.51.100.1', 45003), { flags: 'A' }))); // another client: filtered out
    const passed = build(clientFrame(flowTo('web4', C4, 45004, 81), { flags: 'A' })); // no VIP on port 81: passed
    expect(env.run(passed).retval).toBe(2);
    const summary = await session;
    expect(summary).toEqual({ packets: 3, filtered: 1, lost: 0, limited: 0 });

    const pcap = Buffer.concat(chunks);
    const recs = readPcap(pcap);
    expect(recs.length).toBe(5); // 2 forwarded (received + sent each) + 1 passed
    for (const [i, frame] of inputs.entries()) {
      const received = recs[2 * i]!;
      const sent = recs[2 * i + 1]!;
      // The client's IP packet byte for byte; the Ethernet header is as sent.
      expect(received.data.subarray(14).toString('hex')).toBe(frame.subarray(14).toString('hex'));
      expect(received.origLen).toBe(frame.length);
      expect(sent.data.toString('hex')).toBe(outputs[i]!.toString('hex'));
      expect(Math.abs(received.ts * 1000 - startedMs)).toBeLessThan(5000);
    }
    expect(recs[4]!.data.toString('hex')).toBe(passed.toString('hex'));

    const dir = mkdtempSync(join(tmpdir(), 'sterlet-dump-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'c.pcap'), pcap);
    const text = execFileSync('tcpdump', ['-nn', '-r', join(dir, 'c.pcap')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = text.trim().split('\n');
    expect(lines.length).toBe(5);
    expect(lines[0]).toContain('192.0.2.7.45001 > 10.200.0.10.80: Flags [.]');
    expect(lines[1]).toMatch(/IP 172\.16\.\d+\.\d+ > 10\.0\.1\.\d+: IP 192\.0\.2\.7\.45001 > 10\.200\.0\.10\.80/);
    expect(lines[4]).toContain('192.0.2.7.45004 > 10.200.0.10.81');
  });

  it('filters in the kernel before the ring buffer: other clients and other VIPs never reach it, tunnels are seen through', async () => {
    env = new BalancerEnv();
    maps = captureMapsOf(env.lb.program().info().mapIds);
    expect(maps.cfg.valueSize).toBe(64);
    const chunks: Buffer[] = [];
    const kernelBefore = captureMissed(maps.cpu).filtered;
    const session = runCapture(maps, (c) => chunks.push(c), {
      snaplen: 128, verdicts: verdictMask(undefined), rate: 0, filter: { client: parseClient('192.0.2.0/24'), vip: parseVip('10.200.0.15:80/tcp') }, guePort: 6080, sent: false, count: 2, pollMs: 5,
    });
    const others = [
      flowTo('gue4', '198.51.100.1', 48000), // another client, same VIP (GUE): filtered on the inner source
      flowTo('web4', C4, 48001), // this client, another VIP (IPIP): filtered on the inner destination
      flowTo('gue4', C4, 48002, 81), // this client, the VIP address on another port: passed, filtered on the port
    ];
    for (let i = 0; i < 3; i++) for (const f of others) env.run(build(clientFrame(f, { flags: 'A' })));
    const mine = [flowTo('gue4', C4, 48003), flowTo('gue4', '192.0.2.200', 48004)].map((f) => build(clientFrame(f, { flags: 'A' })));
    for (const frame of mine) expect(env.run(frame).retval).toBe(3);
    const summary = await session;
    expect(summary).toEqual({ packets: 2, filtered: 9, lost: 0, limited: 0 });
    expect(captureMissed(maps.cpu).filtered - kernelBefore, 'all 9 were dropped in the kernel, before the ring buffer').toBe(9);
    const recs = readPcap(Buffer.concat(chunks));
    expect(recs.map((r) => r.data.subarray(14).toString('hex'))).toEqual(mine.map((m) => m.subarray(14).toString('hex')));
  });

  it('filters on --port and --proto in the kernel too', async () => {
    env = new BalancerEnv();
    maps = captureMapsOf(env.lb.program().info().mapIds);
    const kernelBefore = captureMissed(maps.cpu).filtered;
    const session = runCapture(maps, () => undefined, {
      snaplen: 64, verdicts: verdictMask(undefined), rate: 0, filter: { port: parsePort(45555, '--port'), proto: parseProto('udp', '--proto') }, guePort: 6080, sent: false, count: 1, pollMs: 5,
    });
    env.run(build(clientFrame(flowTo('web4', C4, 45555), { flags: 'A' }))); // the port, but TCP
    env.run(build(clientFrame(flowTo('dns4', C4, 45556)))); // UDP, another port
    env.run(build(clientFrame(flowTo('dns4', C4, 45555)))); // both
    expect(await session).toEqual({ packets: 1, filtered: 2, lost: 0, limited: 0 });
    expect(captureMissed(maps.cpu).filtered - kernelBefore).toBe(2);
  });

  it('counts what the ring cannot take, and the rate bound', async () => {
    env = new BalancerEnv();
    maps = captureMapsOf(env.lb.program().info().mapIds);
    const session = runCapture(maps, () => undefined, {
      snaplen: 64, verdicts: verdictMask('forwarded'), rate: 2, filter: {}, guePort: 6080, sent: false, durationMs: 100, pollMs: 5,
    });
    const frame = build(clientFrame(flowTo('web4', C4, 46000), { flags: 'A' }));
    for (let i = 0; i < 5; i++) expect(env.run(frame).retval).toBe(3);
    const s = await session;
    expect(s.packets + s.limited).toBe(5 * 1); // one CPU ran them: 2 within the bound, 3 over it
    expect(s.limited).toBe(3);
    expect(verdictMask('dropped')).toBe(0xff00);
    expect(() => verdictMask('forwarded,bogus')).toThrow(/--verdict "bogus" is not a verdict/);
  });
});
