/* csum.h — Internet checksum helpers (RFC 1071/1624) over native-endian 16-bit words. */
#ifndef STERLET_CSUM_H
#define STERLET_CSUM_H

#include <linux/types.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Sum of n 16-bit words at p (p must be 2-byte aligned stack or checked packet memory). */
static __always_inline __u64 csum_words(const void *p, int n)
{
	const __u16 *w = p;
	__u64 sum = 0;
#pragma unroll
	for (int i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u64 csum_addr6(const __be32 *a)
{
	return (__u64)a[0] + a[1] + a[2] + a[3];
}

/* Pseudo-header sum (addresses, protocol, L4 length) in the on-wire word order. */
static __always_inline __u64 csum_pseudo4(__be32 src, __be32 dst, __u8 proto, __u16 len)
{
	return (__u64)src + dst + bpf_htons(proto) + bpf_htons(len);
}

static __always_inline __u64 csum_pseudo6(const __be32 *src, const __be32 *dst, __u8 proto,
					  __u32 len)
{
	return csum_addr6(src) + csum_addr6(dst) + bpf_htonl(len) + bpf_htonl(proto);
}

/* RFC 1624 incremental update of *csum when a 16-bit word changes from old to new. */
static __always_inline void csum_replace2(__u16 *csum, __u16 old, __u16 new)
{
	__u64 sum = (__u16) ~*csum;
	sum += (__u16)~old;
	sum += new;
	*csum = csum_fold(sum);
}

/*
 * Sum of the inner packet (IP header + L4 segment) for the GUE UDP checksum,
 * without reading the payload: a valid L4 checksum makes the segment sum to
 * the complement of its pseudo-header, a valid IPv4 header sums to zero.
 * Returns 0 with *ok = 0 when that does not hold (IPv4 UDP without checksum).
 * Used by the balancer's GUE (encap.h) and the health probes' (healthcheck.bpf.c).
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

#endif
