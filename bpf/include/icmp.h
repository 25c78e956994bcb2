/* icmp.h — echo replies, too-big generation and parsing of ICMP errors that quote a VIP flow. */
#ifndef STERLET_ICMP_H
#define STERLET_ICMP_H

#include <linux/bpf.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "counters.h"
#include "csum.h"
#include "encap.h"
#include "parsing.h"

/* Bytes of the offending packet quoted in generated errors: IP header + 8 (ports, seq). */
/* ICMPv4 header (linux/icmp.h drags in libc socket headers). */
struct icmp4hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 unused;
	__be16 mtu; /* frag-needed next-hop MTU; echo sequence */
};

#define QUOTE4 (IPV4_HLEN + 8)
#define QUOTE6 (IPV6_HLEN + 8)

static __always_inline void swap_macs(void *data)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, data, ETH_ALEN);
	__builtin_memcpy(data, data + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(data + ETH_ALEN, tmp, ETH_ALEN);
}

/* Turn an echo request to a VIP address into the reply, in place. */
static __always_inline int echo_reply(void *data, void *data_end, const struct pkt *p)
{
	if (data + ETH_HLEN_ > data_end)
		return STAT_DROP_TRUNCATED;
	if (p->flow.family == FAMILY_V4) {
		struct iphdr *iph = data + PKT_OFF(p->l3_off);
		struct icmp4hdr *ic = data + PKT_OFF(p->l4_off);
		__be32 a;

		if ((void *)(ic + 1) > data_end || (void *)(iph + 1) > data_end)
			return STAT_DROP_TRUNCATED;
		a = iph->saddr;
		iph->saddr = iph->daddr;
		iph->daddr = a;
		csum_replace2(&iph->check, bpf_htons((__u16)iph->ttl << 8),
			      bpf_htons(DEFAULT_TTL << 8));
		iph->ttl = DEFAULT_TTL;
		ic->type = ICMP_ECHO_REPLY_;
		csum_replace2(&ic->checksum, bpf_htons(ICMP_ECHO_ << 8),
			      bpf_htons(ICMP_ECHO_REPLY_ << 8));
	} else {
		struct ipv6hdr *ip6 = data + PKT_OFF(p->l3_off);
		struct icmp6hdr *ic6 = data + PKT_OFF(p->l4_off);
		struct in6_addr a;

		if ((void *)(ic6 + 1) > data_end || (void *)(ip6 + 1) > data_end)
			return STAT_DROP_TRUNCATED;
		a = ip6->saddr;
		ip6->saddr = ip6->daddr;
		ip6->daddr = a;
		ip6->hop_limit = DEFAULT_TTL;
		ic6->icmp6_type = ICMPV6_ECHO_REPLY_;
		csum_replace2(&ic6->icmp6_cksum, bpf_htons(ICMPV6_ECHO_REQUEST_ << 8),
			      bpf_htons(ICMPV6_ECHO_REPLY_ << 8));
	}
	swap_macs(data);
	return STAT_TX_ICMP_ECHO;
}

/*
 * Fill p->flow from the packet an ICMP error quotes (VIP -> client), reversed so
 * it is the client -> VIP flow the LRU and ring know. PARSE_OK or a verdict.
 */
static __always_inline int parse_icmp_quote(void *data, void *data_end, struct pkt *p)
{
	__be16 *ports;

	if (p->flow.family == FAMILY_V4) {
		struct iphdr *q = data + PKT_OFF(p->l4_off) + ICMP_HLEN;

		if ((void *)(q + 1) > data_end)
			return STAT_DROP_TRUNCATED;
		if (q->ihl != 5)
			return STAT_PASS_ICMP;
		ports = (__be16 *)(q + 1);
		if ((void *)(ports + 2) > data_end)
			return STAT_DROP_TRUNCATED;
		p->flow.src.v4 = q->daddr;
		p->flow.dst.v4 = q->saddr;
		p->flow.proto = q->protocol;
	} else {
		struct ipv6hdr *q = data + PKT_OFF(p->l4_off) + ICMP_HLEN;

		if ((void *)(q + 1) > data_end)
			return STAT_DROP_TRUNCATED;
		ports = (__be16 *)(q + 1);
		if ((void *)(ports + 2) > data_end)
			return STAT_DROP_TRUNCATED;
		__builtin_memcpy(p->flow.src.v6, &q->daddr, 16);
		__builtin_memcpy(p->flow.dst.v6, &q->saddr, 16);
		p->flow.proto = q->nexthdr;
	}
	if (p->flow.proto != IPPROTO_TCP_ && p->flow.proto != IPPROTO_UDP_)
		return STAT_PASS_ICMP;
	p->flow.sport = ports[1];
	p->flow.dport = ports[0];
	p->icmp_err = 1;
	return PARSE_OK;
}

/* Classify ICMP/ICMPv6 to a VIP: echo request, an error quoting a flow, or pass. */
static __always_inline int icmp_kind(void *data, void *data_end, const struct pkt *p, __u8 *type)
{
	struct icmp4hdr *ic = data + PKT_OFF(p->l4_off);

	if ((void *)(ic + 1) > data_end)
		return STAT_DROP_TRUNCATED;
	*type = ic->type;
	return PARSE_OK;
}

/*
 * Replace the packet by ICMP frag-needed (v4) or packet-too-big (v6) to its
 * sender, quoting the start of the packet, reporting `mtu` (space left for the
 * inner packet). Tail trimmed with bpf_xdp_adjust_tail, headers prepended.
 */
static __always_inline int send_too_big(struct xdp_md *ctx, const struct pkt *p, __u32 mtu)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = PKT_OFF(p->l3_off);
	__u8 old_l2[L2_MAX];
	int quote = p->flow.family == FAMILY_V4 ? QUOTE4 : QUOTE6;
	int hdrs = p->flow.family == FAMILY_V4 ? IPV4_HLEN + ICMP_HLEN : IPV6_HLEN + ICMP_HLEN;

	if (data + L2_MAX > data_end)
		return STAT_DROP_TRUNCATED;
	__builtin_memcpy(old_l2, data, L2_MAX);
	if (bpf_xdp_adjust_tail(ctx, (int)(l3 + quote) - (int)(data_end - data)))
		return STAT_DROP_ADJUST;
	if (bpf_xdp_adjust_head(ctx, -hdrs))
		return STAT_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;

	if (p->flow.family == FAMILY_V4) {
		struct iphdr *iph = data + l3;
		struct icmp4hdr *ic = (void *)(iph + 1);
		struct iphdr ip = {};

		if ((void *)ic + ICMP_HLEN + QUOTE4 > data_end)
			return STAT_DROP_TRUNCATED;
		if (write_l2(data, data_end, old_l2, l3, old_l2 + ETH_ALEN, old_l2,
			     bpf_htons(ETH_P_IP_)))
			return STAT_DROP_TRUNCATED;
		ip.version = 4;
		ip.ihl = 5;
		ip.tot_len = bpf_htons(IPV4_HLEN + ICMP_HLEN + QUOTE4);
		ip.ttl = DEFAULT_TTL;
		ip.protocol = IPPROTO_ICMP_;
		ip.saddr = p->flow.dst.v4;
		ip.daddr = p->flow.src.v4;
		ip.check = csum_fold(csum_words(&ip, IPV4_HLEN / 2));
		__builtin_memcpy(iph, &ip, sizeof(ip));
		ic->type = ICMP_DEST_UNREACH_;
		ic->code = ICMP_FRAG_NEEDED_;
		ic->checksum = 0;
		ic->unused = 0;
		ic->mtu = bpf_htons(mtu);
		ic->checksum = csum_fold(bpf_csum_diff(NULL, 0, (void *)ic, ICMP_HLEN + QUOTE4, 0));
	} else {
		struct ipv6hdr *ip6 = data + l3;
		struct icmp6hdr *ic6 = (void *)(ip6 + 1);

		if ((void *)ic6 + ICMP_HLEN + QUOTE6 > data_end)
			return STAT_DROP_TRUNCATED;
		if (write_l2(data, data_end, old_l2, l3, old_l2 + ETH_ALEN, old_l2,
			     bpf_htons(ETH_P_IPV6_)))
			return STAT_DROP_TRUNCATED;
		*(__be32 *)ip6 = bpf_htonl(6U << 28);
		ip6->payload_len = bpf_htons(ICMP_HLEN + QUOTE6);
		ip6->nexthdr = IPPROTO_ICMPV6_;
		ip6->hop_limit = DEFAULT_TTL;
		__builtin_memcpy(&ip6->saddr, p->flow.dst.v6, 16);
		__builtin_memcpy(&ip6->daddr, p->flow.src.v6, 16);
		ic6->icmp6_type = ICMPV6_PKT_TOOBIG_;
		ic6->icmp6_code = 0;
		ic6->icmp6_cksum = 0;
		ic6->icmp6_mtu = bpf_htonl(mtu);
		ic6->icmp6_cksum =
		    csum_fold(csum_pseudo6(p->flow.dst.v6, p->flow.src.v6, IPPROTO_ICMPV6_,
					   ICMP_HLEN + QUOTE6) +
			      (__u32)bpf_csum_diff(NULL, 0, (void *)ic6, ICMP_HLEN + QUOTE6, 0));
	}
	return STAT_TX_ICMP_TOO_BIG;
}

#endif
