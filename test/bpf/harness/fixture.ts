// The fixture shape shared by the balancer and decap tables.

import type { StatName } from '../../../src/agent/dataplane/counters.ts';
import type { OpenBalancerOptions } from '../../../src/agent/dataplane/loader.ts';
import type { EthLayer } from '../../../src/packet/types.ts';
import type { BalancerEnv } from './balancer-env.ts';

export type Verdict = 'DROP' | 'PASS' | 'TX';
export const XDP_RETVAL: Readonly<Record<Verdict, number>> = { DROP: 1, PASS: 2, TX: 3 };

export interface BalancerFixture {
  readonly name: string;
  /** Frame fed to the program (a layer tree, or raw bytes for malformed input). */
  readonly input: EthLayer | Buffer;
  /** Extra state before the snapshot: LRU entries, ring changes, earlier packets. */
  readonly prepare?: (env: BalancerEnv) => void;
  readonly verdict: Verdict;
  /** Expected frame out; 'input' = untouched. */
  readonly output: EthLayer | 'input';
  /** Global counter deltas; every counter not listed must stay unchanged. */
  readonly counters: Partial<Record<StatName, number>>;
  /** Per-VIP / per-real packet deltas (index -> packets); others must stay unchanged. */
  readonly vip?: Readonly<Record<number, number>>;
  readonly real?: Readonly<Record<number, number>>;
  /** Extra assertions after the run (LRU contents, byte counters). */
  readonly check?: (env: BalancerEnv, out: Buffer) => void;
  /** Loader options (e.g. no per-CPU tables). */
  readonly env?: Omit<OpenBalancerOptions, 'sizes'>;
}
