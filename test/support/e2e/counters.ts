// Reading kernel counters in e2e tests: `ethtool -S` fields, and polling a
// count until it settles (a loaded machine delays the far side's poll).
import { run } from '../exec.ts';

/** One field of `ethtool -S` output. */
export function ethtoolStat(text: string, name: string): bigint {
  const m = new RegExp(`${name}:\\s*(\\d+)`).exec(text);
  if (!m) throw new Error(`no ${name} in ethtool -S`);
  return BigInt(m[1] ?? '0');
}

/** Polls `read` until it returns `want` or 5 s pass; returns the last value read. */
export async function settle(read: () => Promise<bigint>, want: bigint): Promise<bigint> {
  let last = await read();
  for (let i = 0; i < 50 && last !== want; i++) {
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

/** One end of a veth pair, named inside its namespace. */
export interface VethEnd {
  readonly netns: string;
  readonly iface: string;
}

/**
 * Packets a veth pair lost, in either direction: the sum over both ends of
 * tx_dropped (the kernel counts each failed transmit, XDP_TX and
 * ndo_xdp_xmit into a full ring once, on exactly one end) and the rx queue's
 * own drops. Reading only some of these misses losses under load.
 */
export async function vethPairLoss(ends: readonly [VethEnd, VethEnd]): Promise<bigint> {
  let lost = 0n;
  for (const { netns, iface } of ends) {
    const [link, stats] = await Promise.all([
      run(['ip', '-s', '-j', 'link', 'show', 'dev', iface], { netns }),
      run(['ethtool', '-S', iface], { netns }),
    ]);
    const [l] = JSON.parse(link.stdout) as { stats64?: { tx?: { dropped?: number } } }[];
    const txDropped = l?.stats64?.tx?.dropped;
    if (txDropped === undefined) throw new Error(`no stats64.tx.dropped for ${iface} in ${netns}`);
    lost += BigInt(txDropped) + ethtoolStat(stats.stdout, 'rx_queue_0_drops');
  }
  return lost;
}
