/* stats.h — per-CPU counter increments and the verdict each counter stands for. */
#ifndef STERLET_STATS_H
#define STERLET_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"
#include "structs.h"

static __always_inline void stat_add(void *map, __u32 idx, __u32 bytes)
{
	struct lb_stat *s = bpf_map_lookup_elem(map, &idx);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

/* XDP action of a balancer verdict counter. */
static __always_inline int stat_action(int st)
{
	switch (st) {
	case STAT_TX_FORWARD:
	case STAT_TX_ICMP_ECHO:
	case STAT_TX_ICMP_TOO_BIG:
	case STAT_TX_ICMP_ERR_FWD:
		return XDP_TX;
	case STAT_PASS_NON_IP:
	case STAT_PASS_NOT_VIP:
	case STAT_PASS_OTHER_PROTO:
	case STAT_PASS_ICMP:
		return XDP_PASS;
	default:
		return XDP_DROP;
	}
}

#endif
