/* csum.h — Internet checksum helpers (RFC 1071/1624) over native-endian 16-bit words. */
#ifndef STERLET_CSUM_H
#define STERLET_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

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

#endif
