// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdp_filter_stage.bpf.c — e2e harness only: the "DDoS filter" an operator
 * already runs before Sterlet joins the interface (test/e2e/xdp-chain). It
 * drops IPv4 packets from one source address, counts them, and hands every
 * other packet to the next stage of the chain (bpf/include/xdp_stage.h). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "xdp_stage.h"

/* 10.111.0.66: a second address the test gives the client. */
#define BLOCKED_SOURCE 0x0a6f0042

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} filter_drops SEC(".maps");

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		if (ip->saddr == bpf_htonl(BLOCKED_SOURCE)) {
			__u32 key = 0;
			__u64 *drops = bpf_map_lookup_elem(&filter_drops, &key);
			if (drops)
				__sync_fetch_and_add(drops, 1);
			return XDP_DROP;
		}
	}
	return xdp_stage_continue(ctx, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
