/* parsing.h — header parsing with bounds checks into struct pkt (Ethernet, VLAN, IPv4/6, ports). */
#ifndef STERLET_PARSING_H
#define STERLET_PARSING_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "structs.h"
#include "counters.h"

#define PARSE_OK (-1)
/* Offsets re-read from the stack lose their bounds; the mask restores them (all < 128). */
#define PKT_OFF(off) ((off)&0x7f)

/* What the pipeline knows about the packet after parsing. */
struct pkt {
	struct flow_key flow; /* client -> VIP, even for ICMP errors (reversed quote) */
	__u32 l3_off;	      /* 14, or 18 with one VLAN tag */
	__u32 l4_off;
	__u32 ip_len; /* IP packet length from its header (frame may carry padding) */
	__u8 tos;
	__u8 tcp_flags;
	__u8 udp_nocsum; /* UDP over IPv4 with checksum 0 */
	__u8 icmp_err;	 /* packet is an ICMP error quoting the flow */
};

/* Ethernet + at most one 802.1Q/802.1ad tag; sets l3_off and the ethertype. */
static __always_inline int parse_l2(void *data, void *data_end, struct pkt *p, __u16 *proto)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return STAT_DROP_TRUNCATED;
	*proto = eth->h_proto;
	p->l3_off = ETH_HLEN_;
	if (*proto == bpf_htons(ETH_P_8021Q_) || *proto == bpf_htons(ETH_P_8021AD_)) {
		__be16 *inner = data + ETH_HLEN_ + 2;

		if ((void *)(inner + 1) > data_end)
			return STAT_DROP_TRUNCATED;
		*proto = *inner;
		p->l3_off = ETH_HLEN_ + VLAN_HLEN_;
	}
	return PARSE_OK;
}

/* IPv4 without options and not fragmented; options/fragments return their drop reason. */
static __always_inline int parse_ipv4(void *data, void *data_end, struct pkt *p)
{
	struct iphdr *iph = data + PKT_OFF(p->l3_off);

	if ((void *)(iph + 1) > data_end)
		return STAT_DROP_TRUNCATED;
	p->flow.family = FAMILY_V4;
	p->flow.src.v4 = iph->saddr;
	p->flow.dst.v4 = iph->daddr;
	p->flow.proto = iph->protocol;
	p->tos = iph->tos;
	p->ip_len = bpf_ntohs(iph->tot_len);
	p->l4_off = p->l3_off + IPV4_HLEN;
	if (iph->version != 4 || iph->ihl < 5 || p->ip_len < IPV4_HLEN)
		return STAT_DROP_BAD_IP;
	if (iph->ihl != 5)
		return STAT_DROP_V4_OPTIONS;
	if (iph->frag_off & bpf_htons(IP_MF_OFFSET))
		return STAT_DROP_V4_FRAG;
	return PARSE_OK;
}

/* IPv6; a fragment header right after the fixed header returns its drop reason. */
static __always_inline int parse_ipv6(void *data, void *data_end, struct pkt *p)
{
	struct ipv6hdr *ip6 = data + PKT_OFF(p->l3_off);

	if ((void *)(ip6 + 1) > data_end)
		return STAT_DROP_TRUNCATED;
	p->flow.family = FAMILY_V6;
	__builtin_memcpy(p->flow.src.v6, &ip6->saddr, 16);
	__builtin_memcpy(p->flow.dst.v6, &ip6->daddr, 16);
	p->flow.proto = ip6->nexthdr;
	p->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	p->ip_len = IPV6_HLEN + bpf_ntohs(ip6->payload_len);
	p->l4_off = p->l3_off + IPV6_HLEN;
	if (ip6->version != 6)
		return STAT_DROP_BAD_IP;
	if (ip6->nexthdr == IPPROTO_FRAG_)
		return STAT_DROP_V6_FRAG;
	return PARSE_OK;
}

/*
 * TCP/UDP ports (and TCP flags); anything else is passed. The header must lie
 * inside the IP packet, not only inside the frame (bytes after the IP length
 * are padding, never forwarded as part of the packet).
 */
static __always_inline int parse_ports(void *data, void *data_end, struct pkt *p)
{
	if (p->flow.proto == IPPROTO_TCP_) {
		struct tcphdr *th = data + PKT_OFF(p->l4_off);

		if ((void *)(th + 1) > data_end || p->l4_off + sizeof(*th) > p->l3_off + p->ip_len)
			return STAT_DROP_TRUNCATED;
		p->flow.sport = th->source;
		p->flow.dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		return PARSE_OK;
	}
	if (p->flow.proto == IPPROTO_UDP_) {
		struct udphdr *uh = data + PKT_OFF(p->l4_off);

		if ((void *)(uh + 1) > data_end || p->l4_off + sizeof(*uh) > p->l3_off + p->ip_len)
			return STAT_DROP_TRUNCATED;
		p->flow.sport = uh->source;
		p->flow.dport = uh->dest;
		p->udp_nocsum = uh->check == 0 && p->flow.family == FAMILY_V4;
		return PARSE_OK;
	}
	return STAT_PASS_OTHER_PROTO;
}

#endif
