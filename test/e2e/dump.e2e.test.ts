// sterlet dump end to end: real TCP from the client through the balancer
// (native XDP on the lb's veth) while `sterlet dump --client ... --vip ...`
// runs on the lb and tcpdump runs on the client's own interface. The dump,
// ended with Ctrl-C, is a valid pcap that tcpdump reads, and it holds
// exactly the packets the client sent to the VIP, none of the IPv6 client's
// traffic that ran at the same time.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ADDRESS } from '../support/e2e/addressing.ts';
import { TrafficClient } from '../support/e2e/client.ts';
import { NODE_BIN, run, STERLET_CLI } from '../support/exec.ts';
import { LEAF_IFACE } from '../support/e2e/topology.ts';
import { createAgentWorld, type AgentWorld } from '../support/e2e/world.ts';

/** tcpdump's one-line summaries of a pcap, without timestamps (TTL and MACs are not shown). */
async function summaries(file: string): Promise<string[]> {
  const r = await run(['tcpdump', '-nn', '-S', '-t', '-r', file], { timeoutMs: 30_000 });
  return r.stdout.trim().split('\n').filter((l) => l !== '').sort();
}

/** Waits until `file` has not grown for 500 ms (at most 15 s). */
async function untilQuiet(file: string): Promise<void> {
  let size = -1;
  for (let quietMs = 0, waitedMs = 0; quietMs < 500 && waitedMs < 15_000; waitedMs += 100) {
    await new Promise((r) => setTimeout(r, 100));
    const now = statSync(file).size;
    quietMs = now === size ? quietMs + 100 : 0;
    size = now;
  }
}

describe('sterlet dump end to end (netns, native XDP, real TCP, read back with tcpdump)', () => {
  let w: AgentWorld;

  beforeAll(async () => {
    w = await createAgentWorld({ backends: 2 });
  });

  afterAll(async () => {
    await w?.t.destroy();
  });

  it('captures one client\'s packets to the VIP exactly as the client sent them, and ends cleanly on Ctrl-C', async () => {
    const lbPcap = join(w.t.scratch, 'lb-dump.pcap');
    const clientPcap = join(w.t.scratch, 'client-sent.pcap');
    const sniffer = w.t.processes.start(['tcpdump', '-i', LEAF_IFACE, '-nn', '-U', '--immediate-mode', '-Z', 'root', '-w', clientPcap, `ip dst ${w.t.vip} and tcp dst port 80`], {
      name: 'tcpdump client', netns: w.t.client.netns, logFile: join(w.t.scratch, 'tcpdump-client.log'),
    });
    await sniffer.waitForLine(/listening on/, { what: 'tcpdump listening' });
    const dump = w.t.processes.start([NODE_BIN, STERLET_CLI, 'dump', '--bpffs', w.lbBpffs, '--client', CLIENT_ADDRESS, '--vip', `${w.t.vip}:80/tcp`, '--write', lbPcap], {
      name: 'sterlet dump', netns: w.t.lb.netns, logFile: join(w.t.scratch, 'sterlet-dump.log'),
    });
    await dump.waitForLine(/capturing from/, { what: 'the capture start line' });

    const v6 = await TrafficClient.start(w.t, { host: w.t.vip6 });
    const [v4Stats, v6Stats] = await Promise.all([w.client.burst(30, { concurrency: 4 }), v6.burst(30, { concurrency: 4 })]);
    expect(v4Stats.ok).toBe(30);
    expect(v6Stats.ok).toBe(30);
    await new Promise((r) => setTimeout(r, 300)); // the last ACKs reach both captures

    expect(await dump.stop('SIGINT', 10_000)).toBe(0);
    const done = await dump.waitForLine(/packets captured/, { what: 'the summary line' });
    expect(done.line).toMatch(/ 0 lost \(ring buffer full\); 0 over the --rate bound/);
    await sniffer.stop('SIGINT', 10_000);

    const atLb = await summaries(lbPcap);
    const sent = await summaries(clientPcap);
    console.log(`sterlet dump: ${atLb.length} packets at the lb, ${sent.length} sent by the client (tcpdump on its interface)`);
    expect(atLb).toEqual(sent);
    expect(sent.length).toBeGreaterThanOrEqual(30 * 4); // SYN, ACK, request, FIN/ACK... per connection
    expect(atLb.every((l) => l.startsWith(`IP ${CLIENT_ADDRESS}.`))).toBe(true);
    expect(readFileSync(lbPcap).readUInt32LE(0)).toBe(0xa1b2c3d4);
  });

  // tcpdump on a backend sees what XDP passes on: the decap program's output.
  it('--decap on a backend captures the client packets the decap program passed on, as its own tcpdump sees them', async () => {
    const backend = w.be[0]!;
    const decapPcap = join(w.t.scratch, 'decap-dump.pcap');
    const backendPcap = join(w.t.scratch, 'backend-seen.pcap');
    const filter = `ip src ${CLIENT_ADDRESS} and ip dst ${w.t.vip} and tcp dst port 80`;
    const sniffer = w.t.processes.start(['tcpdump', '-i', LEAF_IFACE, '-nn', '-U', '--immediate-mode', '-Z', 'root', '-w', backendPcap, filter], {
      name: 'tcpdump backend', netns: backend.netns, logFile: join(w.t.scratch, 'tcpdump-backend.log'),
    });
    await sniffer.waitForLine(/listening on/, { what: 'tcpdump listening' });
    const dump = w.t.processes.start(
      [NODE_BIN, STERLET_CLI, 'dump', '--decap', '--bpffs', join(w.bpffs.path, backend.name), '--client', CLIENT_ADDRESS, '--vip', `${w.t.vip}:80/tcp`, '--verdict', 'decapsulated', '--write', decapPcap],
      { name: 'sterlet dump --decap', netns: backend.netns, logFile: join(w.t.scratch, 'sterlet-dump-decap.log') },
    );
    await dump.waitForLine(/capturing from/, { what: 'the capture start line' });
    const stats = await w.client.burst(30, { concurrency: 4 });
    expect(stats.ok).toBe(30);
    // Under load the connections' last ACKs trail the burst: stop both captures only once the backend sees no more.
    await untilQuiet(backendPcap);
    expect(await dump.stop('SIGINT', 10_000)).toBe(0);
    await dump.waitForLine(/packets captured/, { what: 'the summary line' });
    await sniffer.stop('SIGINT', 10_000);

    const atDecap = await summaries(decapPcap);
    const seen = await summaries(backendPcap);
    console.log(`sterlet dump --decap: ${atDecap.length} packets, ${seen.length} seen by tcpdump on ${backend.name}`);
    expect(seen.length, `${backend.name} served some of the 30 connections`).toBeGreaterThan(0);
    expect(atDecap).toEqual(seen);
  });
});
