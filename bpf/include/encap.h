/* encap.h — IPIP / IP6IP6 / 4-in-6 and GUE encapsulation toward a real, written in the headroom. */
#ifndef STERLET_ENCAP_H
#define STERLET_ENCAP_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "structs.h"
#include "counters.h"
#include "csum.h"
#include "parsing.h"

#define L2_MAX (ETH_HLEN_ + VLAN_HLEN_)

/* Low `bits` bits set (bits >= 32: all). */
static __always_inline __u32 low_mask(__u32 bits)
{
	return bits >= 32 ? 0xffffffffU : (1U << bits) - 1;
}

/* Rewrite L2 for a frame that leaves by XDP_TX: dst/src MAC given, VLAN tag kept. */
static __always_inline int write_l2(void *data, void *data_end, const __u8 *old_l2, __u32 l3_off,
				    const __u8 *dst, const __u8 *src, __be16 proto)
{
	__u8 *d = data;

	if ((void *)(d + L2_MAX) > data_end)
		return -1;
	__builtin_memcpy(d, dst, ETH_ALEN);
	__builtin_memcpy(d + ETH_ALEN, src, ETH_ALEN);
	if (l3_off == L2_MAX) {
		__builtin_memcpy(d + 12, old_l2 + 12, 4);
		*(__be16 *)(d + 16) = proto;
	} else {
		*(__be16 *)(d + 12) = proto;
	}
	return 0;
}

/*
 * Sum of the inner packet (IP header + L4 segment) for the GUE UDP checksum,
 * without reading the payload: a valid L4 checksum makes the segment sum to
 * the complement of its pseudo-header, a valid IPv4 header sums to zero.
 * Returns 0 with *ok = 0 when that does not hold (IPv4 UDP without checksum).
 */
static __always_inline __u64 inner_sum(void *inner, void *data_end, __u8 family, __u8 udp_nocsum,
				       int *ok)
{
	*ok = 0;
	if (udp_nocsum)
		return 0;
	if (family == FAMILY_V4) {
		struct iphdr *ih = inner;

		if ((void *)(ih + 1) > data_end)
			return 0;
		*ok = 1;
		if (ih->protocol == IPPROTO_ICMP_)
			return 0;
		return csum_fold(csum_pseudo4(ih->saddr, ih->daddr, ih->protocol,
					      bpf_ntohs(ih->tot_len) - IPV4_HLEN));
	}
	struct ipv6hdr *ih6 = inner;

	if ((void *)(ih6 + 1) > data_end)
		return 0;
	*ok = 1;
	return (__u32)bpf_csum_diff(NULL, 0, (void *)ih6, IPV6_HLEN, 0) +
	       csum_fold(csum_pseudo6(ih6->saddr.in6_u.u6_addr32, ih6->daddr.in6_u.u6_addr32,
				      ih6->nexthdr, bpf_ntohs(ih6->payload_len)));
}

/* Add the sum of K bytes at p (if len has bit K) and step past them; -1 if beyond the frame. */
#define CSUM_STEP(K)                                                                  \
	do {                                                                          \
		if (len & (K)) {                                                      \
			if (p + (K) > (__u8 *)data_end)                               \
				return -1;                                            \
			sum += (__u32)bpf_csum_diff(NULL, 0, (void *)p, (K), 0);      \
			p += (K);                                                     \
		}                                                                     \
	} while (0)

#define CSUM_CHUNK	256
#define CSUM_MAX_CHUNKS 16 /* 4 KiB: more than a single-buffer XDP frame holds */

/*
 * Ones-complement sum (folded, not inverted: 0..0xffff) of `len` bytes of the
 * frame from offset `off` (even), or -1 if they run past it. Only for the rare
 * packets whose payload must be read (IPv4 UDP without checksum in GUE over
 * IPv6). A global function: the verifier checks it once, not once per path of
 * every caller. Constant-size bpf_csum_diff chunks, then the remainder bit by
 * bit, so every access has a checked bound.
 */
__attribute__((noinline)) int csum_frame_bytes(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 sum = 0;
	__u8 *p;

	if (off > 0xfff)
		return -1;
	p = data + off;
	for (int i = 0; i < CSUM_MAX_CHUNKS && len >= CSUM_CHUNK; i++) {
		if (p + CSUM_CHUNK > (__u8 *)data_end)
			return -1;
		sum += (__u32)bpf_csum_diff(NULL, 0, (void *)p, CSUM_CHUNK, 0);
		p += CSUM_CHUNK;
		len -= CSUM_CHUNK;
	}
	if (len >= CSUM_CHUNK)
		return -1;
	CSUM_STEP(128);
	CSUM_STEP(64);
	CSUM_STEP(32);
	CSUM_STEP(16);
	CSUM_STEP(8);
	CSUM_STEP(4);
	if (len & 2) {
		if (p + 2 > (__u8 *)data_end)
			return -1;
		sum += *(__u16 *)p;
		p += 2;
	}
	if (len & 1) {
		if (p + 1 > (__u8 *)data_end)
			return -1;
		/* An odd last byte is the first byte of a zero-padded word (RFC 1071). */
		sum += *p;
	}
	return (__u16)~csum_fold(sum);
}

/*
 * Write the UDP + GUE (version 0, no options) header; checksum over the whole
 * datagram. `seg_sum` is the sum of an inner IPv4 UDP segment without checksum
 * (csum_frame_bytes), or -1 when the outer checksum may stay 0 (IPv4 outer).
 */
static __always_inline int write_gue(struct udphdr *uh, void *data_end, const struct pkt *p,
				     __u64 pseudo, __be16 dport, __u32 hash, __u8 inner_proto,
				     int seg_sum)
{
	__u8 *gue = (__u8 *)(uh + 1);
	__u16 ulen = p->ip_len + UDP_HLEN + GUE_HLEN;
	__u64 sum;
	__u16 csum;
	int ok;

	if ((void *)(gue + GUE_HLEN) > data_end)
		return -1;
	uh->source = bpf_htons(0xc000 | ((hash >> 16) & 0x3fff));
	uh->dest = dport;
	uh->len = bpf_htons(ulen);
	uh->check = 0;
	gue[0] = 0;
	gue[1] = inner_proto;
	gue[2] = 0;
	gue[3] = 0;
	sum = inner_sum(gue + GUE_HLEN, data_end, p->flow.family, p->udp_nocsum, &ok);
	/*
	 * Inner IPv4 UDP without checksum: over IPv4 the outer checksum stays 0
	 * (allowed); IPv6 forbids 0 (RFC 8200), so there the datagram's sum is
	 * the segment's (read by csum_frame_bytes; the inner IPv4 header sums to 0).
	 */
	if (!ok) {
		if (!p->udp_nocsum || seg_sum < 0)
			return 0;
		sum = seg_sum;
	}
	sum += pseudo + csum_words(uh, 4) + csum_words(gue, 2);
	csum = csum_fold(sum);
	uh->check = csum ? csum : 0xffff;
	return 0;
}

/*
 * Prepend the outer header(s) for `real` and set L2 for XDP_TX to the gateway.
 * `hash` is the flow's five-tuple hash (outer source, GUE port, flow label).
 * The inner packet is not touched (direct server return). Returns 0 or a drop reason.
 */
static __always_inline int encap(struct xdp_md *ctx, const struct pkt *p,
				 const struct real_def *real, const struct lb_settings *cfg,
				 __u32 hash, __u32 vip_flags)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 gue = !!(vip_flags & VIP_F_GUE);
	__u8 inner_proto = p->flow.family == FAMILY_V4 ? IPPROTO_IPIP_ : IPPROTO_IPV6_;
	__u32 l3 = PKT_OFF(p->l3_off);
	__u8 old_l2[L2_MAX];
	int olen, seg_sum = -1;

	if (gue && p->udp_nocsum && (real->flags & REAL_F_V6)) {
		seg_sum = csum_frame_bytes(ctx, PKT_OFF(p->l4_off), p->ip_len - IPV4_HLEN);
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
	}
	if (data + L2_MAX > data_end)
		return STAT_DROP_TRUNCATED;
	__builtin_memcpy(old_l2, data, L2_MAX);
	olen = (real->flags & REAL_F_V6 ? IPV6_HLEN : IPV4_HLEN) + (gue ? UDP_HLEN + GUE_HLEN : 0);
	if (bpf_xdp_adjust_head(ctx, -olen))
		return STAT_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;

	if (real->flags & REAL_F_V6) {
		struct ipv6hdr *oh = data + l3;
		__be32 *s;

		if ((void *)(oh + 1) > data_end)
			return STAT_DROP_TRUNCATED;
		if (write_l2(data, data_end, old_l2, l3, cfg->gw_mac, old_l2,
			     bpf_htons(ETH_P_IPV6_)))
			return STAT_DROP_TRUNCATED;
		*(__be32 *)oh = bpf_htonl((6U << 28) | ((__u32)p->tos << 20) | (hash & 0xfffff));
		oh->payload_len = bpf_htons(p->ip_len + olen - IPV6_HLEN);
		oh->nexthdr = gue ? IPPROTO_UDP_ : inner_proto;
		oh->hop_limit = DEFAULT_TTL;
		s = oh->saddr.in6_u.u6_addr32;
		s[0] = cfg->src6_prefix[0];
		s[1] = cfg->src6_prefix[1];
		s[2] = cfg->src6_prefix[2];
		s[3] = cfg->src6_prefix[3] | bpf_htonl(hash & low_mask(cfg->src6_bits));
		__builtin_memcpy(&oh->daddr, real->addr.v6, 16);
		if (gue)
			return write_gue((struct udphdr *)(oh + 1), data_end, p,
					 csum_pseudo6(s, real->addr.v6, IPPROTO_UDP_,
						      p->ip_len + UDP_HLEN + GUE_HLEN),
					 cfg->gue_dport, hash, inner_proto, seg_sum);
		return 0;
	}

	struct iphdr *oh = data + l3;
	struct iphdr ip = {};

	if ((void *)(oh + 1) > data_end)
		return STAT_DROP_TRUNCATED;
	if (write_l2(data, data_end, old_l2, l3, cfg->gw_mac, old_l2, bpf_htons(ETH_P_IP_)))
		return STAT_DROP_TRUNCATED;
	ip.version = 4;
	ip.ihl = 5;
	ip.tos = p->tos;
	ip.tot_len = bpf_htons(p->ip_len + olen);
	ip.ttl = DEFAULT_TTL;
	ip.protocol = gue ? IPPROTO_UDP_ : inner_proto;
	ip.saddr = cfg->src4_prefix | bpf_htonl(hash & low_mask(cfg->src4_bits));
	ip.daddr = real->addr.v4;
	ip.check = csum_fold(csum_words(&ip, IPV4_HLEN / 2));
	__builtin_memcpy(oh, &ip, sizeof(ip));
	if (gue)
		return write_gue(
		    (struct udphdr *)(oh + 1), data_end, p,
		    csum_pseudo4(ip.saddr, ip.daddr, IPPROTO_UDP_, p->ip_len + UDP_HLEN + GUE_HLEN),
		    cfg->gue_dport, hash, inner_proto, -1);
	return 0;
}

#endif
