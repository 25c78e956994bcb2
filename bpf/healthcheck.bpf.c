// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* healthcheck.bpf.c — tc egress on the balancer's interface: encapsulate health probes.
 *
 * The agent's probe sockets carry SO_MARK; the mark names a real in hc_reals.
 * A marked packet (addressed to VIP:port) gets the outer header the balancer
 * would write for that real (IPIP / IP6IP6 / 4-in-6, or GUE), so the probe
 * travels the same tunnel as balanced traffic and the backend's reply comes
 * back directly, as DSR replies do. Unmarked packets are not touched.
 * Outer UDP checksums: zero for IPv4 (allowed, as the balancer does), computed
 * for IPv6 (gue6_csum).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "structs.h"
#include "csum.h"
#include "healthcheck.h"

static __always_inline void hc_count(__u32 idx, __u32 bytes)
{
	struct lb_stat *s = bpf_map_lookup_elem(&hc_stats, &idx);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

/* Outer UDP + GUE (version 0, no options), checksum 0 (filled by gue6_csum for IPv6). */
static __always_inline void fill_gue(__u8 *h, __u16 ulen, __be16 dport, __u32 hash, __u8 inner_proto)
{
	struct udphdr *uh = (struct udphdr *)h;

	uh->source = bpf_htons(0xc000 | (hash & 0x3fff));
	uh->dest = dport;
	uh->len = bpf_htons(ulen);
	uh->check = 0;
	h[UDP_HLEN] = 0;
	h[UDP_HLEN + 1] = inner_proto;
	h[UDP_HLEN + 2] = 0;
	h[UDP_HLEN + 3] = 0;
}

/*
 * The inner packet's share of an outer UDP checksum (inner_sum, csum.h), read
 * before the outer header is added: probes are the agent's own TCP segments,
 * whose checksum is correct or left to offload (CHECKSUM_PARTIAL holds the
 * pseudo-header sum: Linux's local checksum offload), no extension headers.
 */
static __always_inline int inner_csum(struct __sk_buff *skb, __u8 inner_proto, __u64 *sum)
{
	__u8 ih[IPV6_HLEN];
	int ok;

	if (bpf_skb_load_bytes(skb, ETH_HLEN_, ih, inner_proto == IPPROTO_IPV6_ ? IPV6_HLEN : IPV4_HLEN))
		return -1;
	*sum = inner_sum(ih, ih + (inner_proto == IPPROTO_IPV6_ ? IPV6_HLEN : IPV4_HLEN),
			 inner_proto == IPPROTO_IPV6_ ? FAMILY_V6 : FAMILY_V4, 0, &ok);
	return ok ? 0 : -1;
}

/*
 * IPv6 forbids a zero UDP checksum (RFC 8200 8.1; RFC 6935 allows it only
 * where the receiver opts in): sum the outer pseudo-header, the UDP and GUE
 * headers and the inner share, never reading the payload.
 */
static __always_inline void gue6_csum(struct ipv6hdr *oh, __u8 *udp, __u16 ulen, __u64 inner)
{
	__u64 sum = csum_words(&oh->saddr, 16) + bpf_htons(ulen) + bpf_htons(IPPROTO_UDP_) +
		    csum_words(udp, (UDP_HLEN + GUE_HLEN) / 2) + inner;
	__u16 check = csum_fold(sum);

	((struct udphdr *)udp)->check = check ? check : 0xffff;
}

SEC("tc")
int healthcheck_egress(struct __sk_buff *skb)
{
	__u32 mark = skb->mark, zero = 0, hash, len, olen, flags;
	__u8 hdr[IPV6_HLEN + UDP_HLEN + GUE_HLEN] = {};
	const struct hc_settings *cfg;
	const struct hc_real *real;
	__u8 inner_proto, gue, v6;
	__be16 eth_proto;
	__u64 inner = 0;

	if (mark == 0)
		return TC_ACT_OK;
	real = bpf_map_lookup_elem(&hc_reals, &mark);
	if (!real) {
		hc_count(HCSTAT_NO_REAL, skb->len);
		return TC_ACT_OK;
	}
	cfg = bpf_map_lookup_elem(&hc_cfg, &zero);
	if (!cfg)
		return TC_ACT_OK;
	len = skb->len;
	v6 = !!(real->flags & HC_F_V6);
	gue = !!(real->flags & HC_F_GUE);
	if (skb->protocol == bpf_htons(ETH_P_IP_))
		inner_proto = IPPROTO_IPIP_;
	else if (skb->protocol == bpf_htons(ETH_P_IPV6_) && v6)
		inner_proto = IPPROTO_IPV6_;
	else {
		hc_count(HCSTAT_ERR_FAMILY, len);
		return TC_ACT_SHOT;
	}
	if (len < ETH_HLEN_)
		return TC_ACT_SHOT;
	len -= ETH_HLEN_; /* the inner packet's L3 length */
	if (v6 && gue && inner_csum(skb, inner_proto, &inner)) {
		hc_count(HCSTAT_ERR_ADJUST, skb->len);
		return TC_ACT_SHOT;
	}
	hash = bpf_get_hash_recalc(skb);
	olen = (v6 ? IPV6_HLEN : IPV4_HLEN) + (gue ? UDP_HLEN + GUE_HLEN : 0);
	flags = BPF_F_ADJ_ROOM_FIXED_GSO |
		(v6 ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 : BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) |
		(gue ? BPF_F_ADJ_ROOM_ENCAP_L4_UDP : 0);
	if (bpf_skb_adjust_room(skb, olen, BPF_ADJ_ROOM_MAC, flags)) {
		hc_count(HCSTAT_ERR_ADJUST, skb->len);
		return TC_ACT_SHOT;
	}

	if (v6) {
		struct ipv6hdr *oh = (struct ipv6hdr *)hdr;

		*(__be32 *)oh = bpf_htonl((6U << 28) | (hash & 0xfffff));
		oh->payload_len = bpf_htons(len + olen - IPV6_HLEN);
		oh->nexthdr = gue ? IPPROTO_UDP_ : inner_proto;
		oh->hop_limit = DEFAULT_TTL;
		__builtin_memcpy(&oh->saddr, cfg->src6, 16);
		__builtin_memcpy(&oh->daddr, real->addr.v6, 16);
		if (gue) {
			fill_gue(hdr + IPV6_HLEN, len + UDP_HLEN + GUE_HLEN, cfg->gue_dport, hash,
				 inner_proto);
			gue6_csum(oh, hdr + IPV6_HLEN, len + UDP_HLEN + GUE_HLEN, inner);
		}
		eth_proto = bpf_htons(ETH_P_IPV6_);
	} else {
		struct iphdr *oh = (struct iphdr *)hdr;

		oh->version = 4;
		oh->ihl = 5;
		oh->tot_len = bpf_htons(len + olen);
		oh->ttl = DEFAULT_TTL;
		oh->protocol = gue ? IPPROTO_UDP_ : inner_proto;
		oh->saddr = cfg->src4;
		oh->daddr = real->addr.v4;
		oh->check = csum_fold(csum_words(oh, IPV4_HLEN / 2));
		if (gue)
			fill_gue(hdr + IPV4_HLEN, len + UDP_HLEN + GUE_HLEN, cfg->gue_dport, hash,
				 inner_proto);
		eth_proto = bpf_htons(ETH_P_IP_);
	}
	if (olen > sizeof(hdr) || bpf_skb_store_bytes(skb, ETH_HLEN_, hdr, olen, 0) ||
	    bpf_skb_store_bytes(skb, 12, &eth_proto, sizeof(eth_proto), 0)) {
		hc_count(HCSTAT_ERR_ADJUST, skb->len);
		return TC_ACT_SHOT;
	}
	hc_count(HCSTAT_ENCAP, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
