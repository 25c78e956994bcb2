/* clock.h — the connection table's clock (atime units) without a helper call per packet. */
#ifndef STERLET_CLOCK_H
#define STERLET_CLOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"

/*
 * bpf_ktime_get_coarse_ns() is a helper call (13 ns on a CPU whose returns
 * go through a return-stack mitigation); bpf_jiffies64() is one load, which
 * the verifier inlines. The kernel advances jiffies by whole ticks of
 * CLOCK_MONOTONIC, and coarse time is CLOCK_MONOTONIC at the last tick, so
 * coarse ns = jiffies * ns-per-tick + a constant (to within a tick). The
 * loader sets ns-per-tick (the kernel's TICK_NSEC, from CONFIG_HZ); the first
 * packet finds the constant. atime values stay what the helper gives, so
 * pinned tables and the agent's reading of ages are unchanged.
 */
const volatile __u32 jiffy_ns SEC(".rodata.clock") = 0; /* 0: HZ unknown, use the helper */
__u64 clock_offset; /* coarse ns - jiffies * jiffy_ns; 0 = not found yet */

/* Last-seen time of a connection-table entry: coarse ns >> ATIME_SHIFT, truncated to u32. */
static __always_inline __u32 atime_now(void)
{
	__u64 j, t, off;

	if (!jiffy_ns)
		return bpf_ktime_get_coarse_ns() >> ATIME_SHIFT;
	j = bpf_jiffies64();
	off = clock_offset;
	if (!off) {
		t = bpf_ktime_get_coarse_ns();
		/* A tick between the two reads would skew the constant by one tick. */
		if (bpf_jiffies64() != j)
			return t >> ATIME_SHIFT;
		off = t - j * jiffy_ns;
		clock_offset = off;
	}
	return (j * jiffy_ns + off) >> ATIME_SHIFT;
}

#endif
