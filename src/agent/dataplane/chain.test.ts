// The chain's TypeScript constants must match the C contract (bpf/include/xdp_stage.h, bpf/chain.bpf.c).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BALANCER_SLOT, CHAIN_PROGRAM, STAGE_SLOTS, STAGES_MAP } from './chain.ts';

const source = (rel: string): string => readFileSync(new URL(`../../../${rel}`, import.meta.url), 'utf8');

describe('XDP chain contract mirror', () => {
  const header = source('bpf/include/xdp_stage.h');

  it('has as many slots as xdp_stage.h, the balancer in the last', () => {
    expect(/#define XDP_STAGE_SLOTS (\d+)/.exec(header)?.[1]).toBe(String(STAGE_SLOTS));
    expect(header).toMatch(/#define XDP_STAGE_BALANCER_SLOT \(XDP_STAGE_SLOTS - 1\)/);
    expect(BALANCER_SLOT).toBe(STAGE_SLOTS - 1);
  });

  it('names the stage array and the root program as the C sources do', () => {
    expect(header).toMatch(new RegExp(`\\} ${STAGES_MAP} SEC\\("\\.maps"\\);`));
    expect(source('bpf/chain.bpf.c')).toMatch(new RegExp(`int ${CHAIN_PROGRAM}\\(struct xdp_md \\*ctx\\)`));
  });
});
