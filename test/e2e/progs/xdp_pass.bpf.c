// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdp_pass.bpf.c — e2e harness only: attached to the router's port facing the
 * balancer. A veth delivers frames another veth sent with XDP_TX only when the
 * receiving side runs NAPI; on this kernel GRO alone did not get them through
 * (they sat in the ring until something polled it), an XDP program does. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
