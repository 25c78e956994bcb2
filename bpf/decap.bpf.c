// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* decap.bpf.c — backend XDP: strip IPIP / IP6IP6 / 4-in-6 / 6-in-4 / GUE sent to a local address.
 */
#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "structs.h"
#include "counters.h"
#include "parsing.h"
#include "stats.h"
#include "decap_maps.h"
#include "capture.h"

/* Outer headers of a tunnel packet: where the inner packet starts and what it is. */
struct tunnel {
	__u32 inner_off;
	__u8 inner_family;
	__u8 counter; /* DSTAT_* on success */
};

/* GUE (version 0 header or version 1 = bare IP) after the UDP header at `off`. */
static __always_inline int parse_gue(void *data, void *data_end, __u32 off, struct tunnel *t)
{
	__u8 *g = data + PKT_OFF(off);
	__u8 proto;

	if ((void *)(g + GUE_HLEN) > data_end)
		return DSTAT_DROP_TRUNCATED;
	if ((g[0] & 0xc0) == 0x40) { /* version 1: the IP header itself */
		proto = g[0] >> 4 == 4 ? IPPROTO_IPIP_ : g[0] >> 4 == 6 ? IPPROTO_IPV6_ : 0;
		t->inner_off = off;
	} else if ((g[0] & 0xe0) == 0) { /* version 0, data message */
		proto = g[1];
		t->inner_off = off + GUE_HLEN + (g[0] & 0x1f) * 4;
	} else {
		return DSTAT_PASS_GUE_OTHER;
	}
	if (proto == IPPROTO_IPIP_)
		t->inner_family = FAMILY_V4;
	else if (proto == IPPROTO_IPV6_)
		t->inner_family = FAMILY_V6;
	else
		return DSTAT_PASS_GUE_OTHER;
	return PARSE_OK;
}

/* Outer IPv4/IPv6 (+UDP) of a tunnel to a local address; PARSE_OK or a DSTAT_*. */
static __always_inline int parse_tunnel(void *data, void *data_end, struct pkt *p, struct tunnel *t,
					__u8 proto, __be16 gue_dport)
{
	struct decap_addr key = {};

	if (proto == IPPROTO_IPIP_) {
		t->inner_off = p->l4_off;
		t->inner_family = FAMILY_V4;
		t->counter = p->flow.family == FAMILY_V4 ? DSTAT_IPIP : DSTAT_V4_IN_V6;
	} else if (proto == IPPROTO_IPV6_) {
		t->inner_off = p->l4_off;
		t->inner_family = FAMILY_V6;
		t->counter = p->flow.family == FAMILY_V4 ? DSTAT_V6_IN_V4 : DSTAT_IP6IP6;
	} else if (proto == IPPROTO_UDP_ && gue_dport) {
		struct udphdr *uh = data + PKT_OFF(p->l4_off);
		int st;

		if ((void *)(uh + 1) > data_end)
			return DSTAT_DROP_TRUNCATED;
		if (uh->dest != gue_dport)
			return DSTAT_PASS_NOT_TUNNEL;
		st = parse_gue(data, data_end, p->l4_off + UDP_HLEN, t);
		if (st != PARSE_OK)
			return st;
		t->counter = p->flow.family == FAMILY_V4 ? DSTAT_GUE4 : DSTAT_GUE6;
	} else {
		return DSTAT_PASS_NOT_TUNNEL;
	}
	key.addr = p->flow.dst;
	key.family = p->flow.family;
	if (!bpf_map_lookup_elem(&decap_addrs, &key))
		return DSTAT_PASS_NOT_LOCAL;
	return PARSE_OK;
}

static __always_inline int process_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct decap_settings *cfg;
	struct tunnel t = {};
	struct pkt p = {};
	__u8 l2[ETH_HLEN_ + VLAN_HLEN_];
	__u16 eth_proto;
	__u32 zero = 0, strip;
	int st;

	cfg = bpf_map_lookup_elem(&decap_cfg, &zero);
	if (!cfg)
		return DSTAT_PASS_NOT_TUNNEL;
	if (parse_l2(data, data_end, &p, &eth_proto) != PARSE_OK)
		return DSTAT_PASS_NOT_TUNNEL;
	if (eth_proto == bpf_htons(ETH_P_IP_))
		st = parse_ipv4(data, data_end, &p);
	else if (eth_proto == bpf_htons(ETH_P_IPV6_))
		st = parse_ipv6(data, data_end, &p);
	else
		return DSTAT_PASS_NOT_TUNNEL;
	/* Outer options, fragments or malformed headers: not ours to judge, the kernel decides. */
	if (st != PARSE_OK)
		return DSTAT_PASS_NOT_TUNNEL;
	st = parse_tunnel(data, data_end, &p, &t, p.flow.proto, cfg->gue_dport);
	if (st != PARSE_OK)
		return st;

	if (data + ETH_HLEN_ + VLAN_HLEN_ > data_end)
		return DSTAT_DROP_TRUNCATED;
	__builtin_memcpy(l2, data, sizeof(l2));
	strip = (t.inner_off & 0xff) - PKT_OFF(p.l3_off); /* GUE options: up to 194 */
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return DSTAT_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN_ + VLAN_HLEN_ > data_end)
		return DSTAT_DROP_TRUNCATED;
	__builtin_memcpy(data, l2, 12);
	__be16 type = bpf_htons(t.inner_family == FAMILY_V4 ? ETH_P_IP_ : ETH_P_IPV6_);
	if (p.l3_off == ETH_HLEN_ + VLAN_HLEN_) {
		__builtin_memcpy(data + 12, l2 + 12, 4);
		*(__be16 *)(data + 16) = type;
	} else {
		*(__be16 *)(data + 12) = type;
	}
	return t.counter;
}

SEC("xdp")
int decap_ingress(struct xdp_md *ctx)
{
	__u32 bytes = ctx->data_end - ctx->data;
	int st = process_decap(ctx);

	stat_add(&decap_stats, st, bytes);
	capture(ctx, st); /* sterlet dump --decap (capture.h); off: one load and a branch */
	return st == DSTAT_DROP_TRUNCATED || st == DSTAT_DROP_ADJUST ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
