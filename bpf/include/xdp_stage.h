/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp_stage.h — the contract of Sterlet's XDP chain (agent --xdp-chain): the
 * stage array the root program (chain.bpf.c) tail-calls in slot order, and
 * what a stage such as a DDoS filter calls to hand a packet on. Katran's root
 * PROG_ARRAY design: a tail call never returns, so a stage that keeps a packet
 * ends with xdp_stage_continue(); its XDP_PASS would give it to the stack. */
#ifndef STERLET_XDP_STAGE_H
#define STERLET_XDP_STAGE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Slots 0..XDP_STAGE_SLOTS-1; the balancer is always the last one. The agent
 * puts a stage it finds attached on the interface into slot 0. */
#define XDP_STAGE_SLOTS 8
#define XDP_STAGE_BALANCER_SLOT (XDP_STAGE_SLOTS - 1)

/* Same name, type and sizes in every program of the chain: the agent finds a
 * stage's array by this name and loads its root on that very map. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, XDP_STAGE_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} xdp_stages SEC(".maps");

/* Runs the first filled slot after `slot`; XDP_PASS when none is (a stage
 * running alone, before a balancer joined the chain). */
static __always_inline int xdp_stage_continue(struct xdp_md *ctx, __u32 slot)
{
	for (__u32 next = slot + 1; next < XDP_STAGE_SLOTS; next++)
		bpf_tail_call(ctx, &xdp_stages, next);
	return XDP_PASS;
}

#endif /* STERLET_XDP_STAGE_H */
