// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sink.bpf.c — bench-pps only: attached to the router-side veth, where the
 * forwarded packets arrive. It drops them, so the veth's xdp_drops counter
 * (ethtool -S) counts exactly what was forwarded, and running XDP there gives
 * the veth the NAPI that frames sent with XDP_TX need to be delivered. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int sink(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
