// Reading kernel counters in e2e tests: `ethtool -S` fields, and polling a
// count until it settles (a loaded machine delays the far side's poll).

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
