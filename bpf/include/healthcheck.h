/* healthcheck.h — structs, counters and maps of the health-check tc egress program; part of the TypeScript contract. */
#ifndef STERLET_HEALTHCHECK_H
#define STERLET_HEALTHCHECK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "structs.h"

#ifndef MAX_HC_REALS
#define MAX_HC_REALS 65536
#endif

#define HC_F_V6	 (1U << 0) /* the real's address is IPv6 */
#define HC_F_GUE (1U << 1) /* GUE (UDP) instead of IPIP / IP6IP6 / 4-in-6 */

/* Where probes carrying one socket mark are encapsulated to. */
struct hc_real {
	union {
		__be32 v4;
		__be32 v6[4];
	} addr;
	__u32 flags; /* HC_F_* */
};

/* Outer source addresses and the GUE port: the balancer's own choices. */
struct hc_settings {
	__be32 src4;
	__be32 src6[4];
	__be16 gue_dport;
	__u16 pad;
};

/* Counters (packets, bytes), numbered: retired numbers are never reused. */
#define HCSTAT_ENCAP	   0 /* marked probe encapsulated toward its real */
#define HCSTAT_NO_REAL	   1 /* mark in our range but no real for it: passed as is */
#define HCSTAT_ERR_ADJUST  2 /* bpf_skb_adjust_room failed: dropped */
#define HCSTAT_ERR_FAMILY  3 /* neither IPv4 nor IPv6, or IPv6 inner to an IPv4 real: dropped */
#define HCSTAT_NR	   4

/* socket mark -> real, filled by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct hc_real);
	__uint(max_entries, MAX_HC_REALS);
} hc_reals SEC(".maps");

/* One entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct hc_settings);
	__uint(max_entries, 1);
} hc_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_stat);
	__uint(max_entries, HCSTAT_NR);
} hc_stats SEC(".maps");

#endif
