// The TypeScript mirror must match the C headers it mirrors, number for number.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecapStat, DSTAT_NR, Stat, STAT_GLOBAL_NR } from './counters.ts';
import { ATIME_SHIFT, Defaults, LAYOUT_VERSION, RealFlag, VIP_BUCKET_BITS, VipBucketState, VipFlag } from './layout.ts';

const header = (name: string): string => readFileSync(new URL(`../../../bpf/include/${name}`, import.meta.url), 'utf8');

/** #define NAME VALUE pairs of a header (numbers and (1U << n) only). */
function defines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^#define\s+([A-Z0-9_]+)\s+(\(1U << \d+\)|0x[0-9a-fA-F]+U?|\d+)(?=\s|$)/gm)) {
    const raw = m[2] ?? '';
    const shift = /^\(1U << (\d+)\)$/.exec(raw);
    out.set(m[1] ?? '', shift ? 1 << Number(shift[1]) : Number.parseInt(raw.replace(/U$/, ''), raw.startsWith('0x') ? 16 : 10));
  }
  return out;
}

const camel = (s: string): string => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function prefixed(defs: Map<string, number>, prefix: string, skip: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of defs) if (k.startsWith(prefix) && !skip.includes(k)) out[camel(k.slice(prefix.length))] = v;
  return out;
}

describe('dataplane mirror', () => {
  const counters = defines(header('counters.h'));
  const consts = defines(header('consts.h'));

  it('numbers balancer counters like counters.h', () => {
    expect(prefixed(counters, 'STAT_', ['STAT_GLOBAL_NR', 'STAT_VIP_BASE'])).toEqual(Stat);
    expect(counters.get('STAT_GLOBAL_NR')).toBe(STAT_GLOBAL_NR);
    expect(Math.max(...Object.values(Stat))).toBeLessThan(STAT_GLOBAL_NR);
  });

  it('numbers decap counters like counters.h', () => {
    expect(prefixed(counters, 'DSTAT_', ['DSTAT_NR'])).toEqual(DecapStat);
    expect(counters.get('DSTAT_NR')).toBe(DSTAT_NR);
  });

  it('never reuses a counter number', () => {
    expect(new Set(Object.values(Stat)).size).toBe(Object.keys(Stat).length);
    expect(new Set(Object.values(DecapStat)).size).toBe(Object.keys(DecapStat).length);
  });

  it('uses the flag bits, defaults and layout version of consts.h', () => {
    expect(consts.get('LAYOUT_VERSION')).toBe(LAYOUT_VERSION);
    expect(consts.get('VIP_BUCKET_BITS')).toBe(VIP_BUCKET_BITS);
    expect([consts.get('VIP_BUCKET_EMPTY'), consts.get('VIP_BUCKET_ONE'), consts.get('VIP_BUCKET_MANY')]).toEqual([VipBucketState.empty, VipBucketState.one, VipBucketState.many]);
    expect(prefixed(consts, 'VIP_F_', [])).toEqual({
      hashSrc: VipFlag.hashSource,
      hashDport: VipFlag.hashDestinationPort,
      noLru: VipFlag.noLru,
      quic: VipFlag.quic,
      gue: VipFlag.gue,
      addr: VipFlag.address,
    });
    expect(prefixed(consts, 'REAL_F_', [])).toEqual({ present: RealFlag.present, v6: RealFlag.v6 });
    expect(consts.get('MAX_VIPS')).toBe(Defaults.maxVips);
    expect(consts.get('MAX_REALS')).toBe(Defaults.maxReals);
    expect(consts.get('RING_SIZE')).toBe(Defaults.ringSize);
    expect(consts.get('LRU_SIZE')).toBe(Defaults.lruSize);
    expect(consts.get('FALLBACK_LRU_SIZE')).toBe(Defaults.fallbackLruSize);
    expect(consts.get('MAX_DECAP_ADDRS')).toBe(Defaults.maxDecapAddrs);
    expect(consts.get('MAX_QUIC_REALS')).toBe(Defaults.maxQuicReals);
    expect(consts.get('ATIME_SHIFT')).toBe(ATIME_SHIFT);
  });
});
