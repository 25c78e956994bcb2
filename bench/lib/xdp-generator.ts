// Whether this kernel lets pktgen --xdp send (BPF_PROG_TEST_RUN live frames).
// Some kernels refuse live frames even to root; pktgen then exits with
// XDPGEN_REFUSED (bench/pktgen/xdpgen.h) and the AF_PACKET ring is what works.
import { CommandError, run } from '../../test/support/exec.ts';

/** pktgen's exit code when the kernel refuses live frames. */
export const XDPGEN_REFUSED = 3;

/**
 * Sends one generator frame from `netns`'s `iface` (a namespace of the
 * caller's own, whose peer counts or drops it); false when the kernel refuses.
 */
export async function xdpGeneratorAllowed(pktgen: string, genObject: string, netns: string, iface: string, frames: string): Promise<boolean> {
  try {
    await run(['ip', 'netns', 'exec', netns, pktgen, '--iface', iface, '--frames', frames, '--seconds', '1', '--count', '1', '--xdp', genObject]);
    return true;
  } catch (e) {
    if (e instanceof CommandError && e.exitCode === XDPGEN_REFUSED) return false;
    throw e;
  }
}
