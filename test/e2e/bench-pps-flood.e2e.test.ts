// Established connections survive a SYN flood, end to end: the real agent
// (native XDP on the lb's veth, IPIP to decap on 3 backends), 50 keep-alive
// HTTP connections from the client through the VIP, and bench-pps's packet
// generator sending a random-source SYN flood into the lb's veth on the same
// CPU as the connections (so the flood lands in the same per-CPU connection
// table). What must hold, whatever the machine's load: no connection fails,
// every one answers after the flood from the same backend, and each one's
// connection-table entry is still there naming the same backend. Timings
// (latency, flood rate) are bench-pps's to print, not asserted here.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { establishedUnderFlood, FORWARDING_CPU } from '../../bench/lib/flood-established.ts';
import { REPO_ROOT } from '../support/exec.ts';

const CONNECTIONS = 50;

beforeAll(async () => {
  await promisify(execFile)('make', ['-C', REPO_ROOT, '-s', 'build/bench/pktgen']);
});

describe('established connections under a SYN flood (real TCP, native XDP, the bench generator)', () => {
  it('Sterlet keeps all 50 connections working through a 2 s flood, and every connection-table entry stays', async () => {
    const o = await establishedUnderFlood('sterlet', { connections: CONNECTIONS, baselineSeconds: 1, floodSeconds: 2 });
    const report = JSON.stringify(o);
    console.log(`flood ${o.floodSentMpps.toFixed(3)} Mpps sent, ${String(o.forwardedDuringFlood)} packets to backends; p99 ${o.baseline.p99Ms.toFixed(2)} -> ${o.flood.p99Ms.toFixed(2)} ms; ${o.detail}`);
    // The flood really ran through the balancer: far more packets reached the
    // backends than the connections' own (50 connections x 10 requests/s x 2 s).
    expect(o.forwardedDuringFlood ?? 0, report).toBeGreaterThan(20 * CONNECTIONS * 10 * 2);
    expect(o.failures, report).toBe(0);
    expect(o.answeringAfter, report).toBe(CONNECTIONS);
    expect(o.backendChanges, report).toBe(0);
    expect(o.entriesBefore, report).toBe(CONNECTIONS);
    expect(o.entriesAfter, report).toBe(CONNECTIONS);
    // ...in the per-CPU table the flood went through (RPS puts the connections on the generator's CPU).
    expect(o.detail, report).toContain(`${String(CONNECTIONS)} in cpu${String(FORWARDING_CPU)}`);
  });
});
