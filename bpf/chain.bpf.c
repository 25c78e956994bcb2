// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* chain.bpf.c — the root program of --xdp-chain mode: attached to the
 * interface in place of the balancer, it runs the stages of xdp_stages in slot
 * order (a filter in slot 0, the balancer in the last). Replacing a stage is
 * one map update, so upgrading the balancer never touches the interface. */
#include "xdp_stage.h"

SEC("xdp")
int xdp_chain(struct xdp_md *ctx)
{
	/* Slot "-1": the first filled slot from 0 on. */
	bpf_tail_call(ctx, &xdp_stages, 0);
	return xdp_stage_continue(ctx, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
