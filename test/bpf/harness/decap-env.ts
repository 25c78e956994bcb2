// A freshly loaded decap program with this node's local tunnel addresses.

import { encodeDecapAddr, encodeDecapSettings, u32 } from '../../../src/agent/dataplane/codec.ts';
import { DecapStat, sumPerCpu, type DecapStatName } from '../../../src/agent/dataplane/counters.ts';
import { DecapFlag } from '../../../src/agent/dataplane/layout.ts';
import { openDecap, type Decap } from '../../../src/agent/dataplane/loader.ts';
import { GUE_PORT } from './world.ts';

export const LOCAL4 = '10.0.1.1';
export const LOCAL6 = 'fc00::1:1';

export class DecapEnv {
  readonly decap: Decap;

  /** `objectPath`: another decap build (default build/bpf/decap.bpf.o). */
  constructor(objectPath?: string) {
    this.decap = openDecap(objectPath !== undefined ? { objectPath } : {});
    try {
      this.decap.maps.settings.update(u32(0), encodeDecapSettings({ gueDestinationPort: GUE_PORT }));
      for (const a of [LOCAL4, LOCAL6]) this.decap.maps.addrs.update(encodeDecapAddr(a), u32(DecapFlag.local));
    } catch (err) {
      this.decap.close();
      throw err;
    }
  }

  run(frame: Buffer): { retval: number; data: Buffer } {
    const r = this.decap.program.testRun({ data: frame });
    return { retval: r.retval, data: Buffer.from(r.data) };
  }

  counters(): Record<DecapStatName, bigint> {
    const out = {} as Record<DecapStatName, bigint>;
    for (const [name, i] of Object.entries(DecapStat)) {
      out[name as DecapStatName] = sumPerCpu(this.decap.maps.stats.lookupPerCpu(u32(i)) ?? []).packets;
    }
    return out;
  }

  close(): void {
    this.decap.close();
  }
}
