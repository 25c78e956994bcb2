// Raw-socket TCP checks against real loopback listeners: connected, refused,
// timed out (a listener whose accept queue is full drops SYNs), abandoned.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeSockaddr } from '../../libbpf/sockets.ts';
import type { ProbeResult } from './probe.ts';
import { TcpProbes } from './tcp-probes.ts';

const loopback = (port: number): Buffer => encodeSockaddr(new Uint8Array([127, 0, 0, 1]), port);
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function listening(onConnection: () => void = () => undefined): Promise<number> {
  const s = net.createServer((c) => {
    onConnection();
    c.on('error', () => undefined).destroy();
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanups.push(() => s.close());
  return (s.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const port = await listening();
  cleanups.pop()?.();
  return port;
}

/** A listener that never accepts, backlog 0: once one connection waits in its queue, further SYNs are dropped. */
async function fullQueue(): Promise<number> {
  const py = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => (py as ChildProcess).kill());
  return new Promise((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
}

/** Polls until `n` results arrived (or 3 s passed). */
async function results(probes: TcpProbes<string>, got: Map<string, ProbeResult>, n: number): Promise<Map<string, ProbeResult>> {
  const until = performance.now() + 3000;
  while (got.size < n && performance.now() < until) {
    probes.poll();
    await new Promise((r) => setTimeout(r, 2));
  }
  return got;
}

describe('TcpProbes', () => {
  it('a listening port connects (latency from the handshake), a closed one is refused with its errno', async () => {
    let accepted = 0;
    const open = await listening(() => accepted++);
    const closed = await closedPort();
    const got = new Map<string, ProbeResult>();
    const probes = new TcpProbes<string>((token, r) => got.set(token, r));
    probes.start('open', loopback(open), undefined, 1000);
    probes.start('closed', loopback(closed), undefined, 1000);
    await results(probes, got, 2);
    expect(got.get('open')).toMatchObject({ ok: true });
    expect(got.get('open')?.latencyMs).toBeGreaterThan(0);
    expect(got.get('open')?.latencyMs).toBeLessThan(1000);
    expect(got.get('closed')).toMatchObject({ ok: false, error: 'connect ECONNREFUSED' });
    expect(probes.inFlight).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toBe(1);
    probes.close();
  });

  it('a SYN nobody answers times out with the probe.ts message, and its socket is released', async () => {
    const port = await fullQueue();
    const got = new Map<string, ProbeResult>();
    const probes = new TcpProbes<string>((token, r) => got.set(token, r));
    probes.start('first', loopback(port), undefined, 1000);
    await results(probes, got, 1);
    expect(got.get('first')).toMatchObject({ ok: true });
    probes.start('dropped', loopback(port), undefined, 300);
    await results(probes, got, 2);
    expect(got.get('dropped')).toMatchObject({ ok: false, error: 'timeout after 300 ms' });
    expect(got.get('dropped')?.latencyMs).toBeGreaterThanOrEqual(300);
    expect(probes.inFlight).toBe(0);
    probes.close();
  });

  it('close() abandons connects in progress without results and hands back their tokens', async () => {
    const port = await fullQueue();
    const got = new Map<string, ProbeResult>();
    const probes = new TcpProbes<string>((token, r) => got.set(token, r));
    probes.start('first', loopback(port), undefined, 1000);
    await results(probes, got, 1);
    probes.start('a', loopback(port), undefined, 5000);
    probes.start('b', loopback(port), undefined, 5000);
    expect(probes.inFlight).toBe(2);
    expect(probes.close().sort()).toEqual(['a', 'b']);
    expect(probes.inFlight).toBe(0);
    expect(got.size).toBe(1);
  });
});
