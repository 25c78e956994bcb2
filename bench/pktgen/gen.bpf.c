// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* gen.bpf.c — the packet generator of `make bench-pps` in XDP form (pktgen
 * --xdp). pktgen runs it with BPF_PROG_TEST_RUN in live-frames mode: the
 * kernel hands it page-pool frames initialised from one template frame and
 * transmits what it redirects, so no skb is allocated per packet. Each run
 * stamps the next flow's IPv4 source and TCP source port and patches both
 * checksums, then redirects out of the router's veth toward the balancer.
 *
 * A recycled page keeps its bytes: the kernel initialises a page from the
 * template once and later only resets the frame's pointers. What the last
 * packet on that page went through stays: the kernel's forwarding rewrites
 * MACs and TTL in place, Sterlet writes its IPIP header over the front. So
 * every run copies the whole template back first, then stamps the flow, with
 * checksums derived from the template's values in the config. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "gen.h"

const volatile struct gen_config cfg;

/* Packets stamped so far; one CPU runs this program (the test run pins it). */
__u32 seq;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the loader sets it to the number of flows */
	__type(key, __u32);
	__type(value, struct gen_flow);
} flows SEC(".maps");

/* One's-complement sum of the changed 16-bit words, RFC 1624 eqn. 3:
 * byte order does not matter as long as all words are read the same way. */
static __always_inline __u16 csum_update(__u16 check, __u32 old32, __u32 new32, __u16 old16, __u16 new16)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(old32 & 0xffff) + (new32 & 0xffff);
	sum += (__u16)~(old32 >> 16) + (new32 >> 16);
	sum += (__u16)~old16 + new16;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *ip = data + GEN_IP, *l4 = data + GEN_L4;
	__u32 n = seq++, saddr;
	__u16 sport;

	if (data + GEN_L4 + 20 > end)
		return XDP_ABORTED;
	/* cfg is read-only: the verifier knows cfg.len and drops the dead iterations. */
#pragma unroll
	for (int i = 0; i + 8 <= GEN_MAX_LEN; i += 8) {
		if (i + 8 > cfg.len)
			break;
		if (data + i + 8 > end)
			return XDP_ABORTED;
		*(__u64 *)(data + i) = *(const volatile __u64 *)&cfg.frame[i];
	}
#pragma unroll
	for (int i = 0; i < 8; i++) {
		__u32 at = (cfg.len & ~7u) + i;

		if (at >= cfg.len || at >= GEN_MAX_LEN)
			break;
		if (data + at + 1 > end)
			return XDP_ABORTED;
		*(__u8 *)(data + at) = cfg.frame[at];
	}
	if (cfg.flood) {
		/* Same stamp as pktgen.c's --flood: low 24 bits of the source and the port. */
		saddr = bpf_htonl((bpf_ntohl(cfg.saddr) & 0xff000000) | (n & 0xffffff));
		sport = bpf_htons((__u16)(1024 + (n >> 24) * 1024 + (n & 0x3ff)));
	} else {
		__u32 key = cfg.nflows ? n % cfg.nflows : 0;
		struct gen_flow *f = bpf_map_lookup_elem(&flows, &key);

		if (!f)
			return XDP_ABORTED;
		saddr = f->saddr;
		sport = f->sport;
	}
	*(__u32 *)(ip + 12) = saddr;
	*(__u16 *)l4 = sport;
	/* The IPv4 header sum covers the source; the TCP sum too (pseudo header) and the port. */
	*(__u16 *)(ip + 10) = csum_update(cfg.ip_check, cfg.saddr, saddr, 0, 0);
	*(__u16 *)(l4 + 16) = csum_update(cfg.tcp_check, cfg.saddr, saddr, cfg.sport, sport);
	return bpf_redirect(cfg.ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
