/* capture.h — `sterlet dump`: copies handled frames into a ring buffer while a capture runs. */
#ifndef STERLET_CAPTURE_H
#define STERLET_CAPTURE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef CAPTURE_SNAP_MAX
#define CAPTURE_SNAP_MAX 512 /* bytes kept per frame at most; a power of two */
#endif
#ifndef CAPTURE_RING_BYTES
#define CAPTURE_RING_BYTES (1 << 22)
#endif

/* The client-flow filter of `sterlet dump`, checked before the ring buffer
 * is touched (bits of capture_cfg.match); user space checks again exactly. */
#define CAP_M_CLIENT	(1U << 0) /* source in client/client_plen */
#define CAP_M_VIP	(1U << 1) /* destination == vip */
#define CAP_M_VIP_PORT	(1U << 2) /* destination port == vip_port */
#define CAP_M_VIP_PROTO (1U << 3) /* protocol == vip_proto */
#define CAP_M_PORT	(1U << 4) /* source or destination port == port */
#define CAP_M_PROTO	(1U << 5) /* protocol == proto */

/* Written by `sterlet dump`; on == 0 costs one inlined array load and a branch. */
struct capture_cfg {
	__u32 on;
	__u32 snaplen;	/* <= CAPTURE_SNAP_MAX */
	__u32 verdicts; /* one bit per verdict counter (STAT_TX_* .. STAT_DROP_*) */
	__u32 rate;	/* records per CPU per ~1.07 s window; 0 = unbounded */
	__u32 match;	/* CAP_M_*; 0 = every packet of the chosen verdicts */
	__u8 client_family; /* 4 or 6 */
	__u8 client_plen;
	__u8 vip_family;
	__u8 vip_proto;
	__u8 client[16]; /* network order, host bits cleared */
	__u8 vip[16];	 /* network order, zero after an IPv4 address */
	__be16 vip_port;
	__be16 port;
	__u8 proto;
	__u8 pad;
	__be16 gue_port; /* to see through GUE, as user space does */
};

/* One ring-buffer record: the frame as the program leaves it, and its verdict. */
struct capture_rec {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	__u32 verdict;
	__u32 len;     /* frame length as it leaves the program */
	__u32 cap_len; /* bytes of data[] that are the frame */
	__u32 cpu;
	__u8 data[CAPTURE_SNAP_MAX];
};

/* Per-CPU rate window and what the capture missed. */
struct capture_cpu {
	__u64 window;
	__u64 sent;
	__u64 lost;    /* ring buffer full: the reader is behind */
	__u64 limited; /* over the rate bound */
	__u64 filtered; /* seen but not the client flow asked for */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct capture_cfg);
	__uint(max_entries, 1);
} capture_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct capture_cpu);
	__uint(max_entries, 1);
} capture_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CAPTURE_RING_BYTES);
} capture_ring SEC(".maps");

/* The client flow of a frame: outer IP, or the inner packet of our IPIP /
 * IP6IP6 / 4-in-6 / GUE tunnel (the layout frame-view.ts reads). */
#define CAP_IPPROTO_IPIP 4
#define CAP_IPPROTO_TCP	 6
#define CAP_IPPROTO_UDP	 17
#define CAP_IPPROTO_IPV6 41

struct cap_flow {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u8 src[16];
	__u8 dst[16];
};

static __always_inline int cap_ip(void *data, void *end, __u32 off, int family, struct cap_flow *f, __u32 *l4)
{
	if (off > 256)
		return 0;
	__builtin_memset(f, 0, sizeof(*f));
	if (family == 4) {
		struct iphdr *ip = data + off;
		if ((void *)(ip + 1) > end)
			return 0;
		f->family = 4;
		f->proto = ip->protocol;
		__builtin_memcpy(f->src, &ip->saddr, 4);
		__builtin_memcpy(f->dst, &ip->daddr, 4);
		*l4 = off + ip->ihl * 4;
	} else if (family == 6) {
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > end)
			return 0;
		f->family = 6;
		f->proto = ip6->nexthdr;
		__builtin_memcpy(f->src, &ip6->saddr, 16);
		__builtin_memcpy(f->dst, &ip6->daddr, 16);
		*l4 = off + sizeof(*ip6);
	} else {
		return 0;
	}
	if (f->proto == CAP_IPPROTO_TCP || f->proto == CAP_IPPROTO_UDP) {
		__be16 *p = data + *l4;
		if ((void *)(p + 2) <= end) {
			f->sport = p[0];
			f->dport = p[1];
		}
	}
	return 1;
}

static __always_inline int cap_family(__u8 version)
{
	return version == 4 ? 4 : version == 6 ? 6 : 0;
}

static __always_inline int cap_view(struct xdp_md *ctx, __be16 gue_port, struct cap_flow *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth), l4 = 0, inner_l4;
	__be16 type;

	if ((void *)(eth + 1) > end)
		return 0;
	type = eth->h_proto;
	if (type == bpf_htons(ETH_P_8021Q)) {
		__be16 *inner = data + 16;
		if ((void *)(inner + 1) > end)
			return 0;
		type = *inner;
		off = 18;
	}
	if (!cap_ip(data, end, off, type == bpf_htons(ETH_P_IP) ? 4 : type == bpf_htons(ETH_P_IPV6) ? 6 : 0, f, &l4))
		return 0;
	if (f->proto == CAP_IPPROTO_IPIP || f->proto == CAP_IPPROTO_IPV6) {
		struct cap_flow outer = *f;
		if (cap_ip(data, end, l4, f->proto == CAP_IPPROTO_IPIP ? 4 : 6, f, &inner_l4))
			return 1;
		*f = outer;
	} else if (f->proto == CAP_IPPROTO_UDP && gue_port && f->dport == gue_port) {
		__u32 at = l4 + 8 + 4; /* UDP, GUE header (variant 0, no options) */
		__u8 *v = data + at;
		struct cap_flow outer = *f;
		if (at <= 256 && (void *)(v + 1) <= end && cap_ip(data, end, at, cap_family(*v >> 4), f, &inner_l4))
			return 1;
		*f = outer;
	}
	return 1;
}

static __always_inline int cap_in_prefix(const __u8 *a, const __u8 *want, __u32 plen)
{
	for (int i = 0; i < 16; i++) {
		if (plen <= (__u32)i * 8)
			break;
		__u32 bits = plen - i * 8 >= 8 ? 8 : plen - i * 8;
		__u8 mask = (__u8)(0xff << (8 - bits));
		if ((a[i] & mask) != want[i])
			return 0;
	}
	return 1;
}

static __always_inline int cap_same16(const __u8 *a, const __u8 *b)
{
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* 1 when the frame is the client flow asked for (user space checks the record again). */
static __always_inline int cap_wanted(struct xdp_md *ctx, struct capture_cfg *cfg)
{
	struct cap_flow f;
	__u32 m = cfg->match;

	if (!m)
		return 1;
	if (!cap_view(ctx, cfg->gue_port, &f))
		return 0; /* not IP: user space keeps no such frame under a filter either */
	if ((m & CAP_M_CLIENT) && (f.family != cfg->client_family || !cap_in_prefix(f.src, cfg->client, cfg->client_plen)))
		return 0;
	if ((m & CAP_M_VIP) && (f.family != cfg->vip_family || !cap_same16(f.dst, cfg->vip)))
		return 0;
	if ((m & CAP_M_VIP_PORT) && f.dport != cfg->vip_port)
		return 0;
	if ((m & CAP_M_VIP_PROTO) && f.proto != cfg->vip_proto)
		return 0;
	if ((m & CAP_M_PORT) && f.sport != cfg->port && f.dport != cfg->port)
		return 0;
	if ((m & CAP_M_PROTO) && f.proto != cfg->proto)
		return 0;
	return 1;
}

/* Out of line: the packet path only pays for the call while a capture runs. */
static __noinline int capture_slow(struct xdp_md *ctx, __u32 st, struct capture_cfg *cfg)
{
	__u32 zero = 0;
	__u64 len, cap;
	struct capture_cpu *c;
	struct capture_rec *r;
	__u64 now;

	if (st >= 32 || !(cfg->verdicts & (1U << st)))
		return 0;
	c = bpf_map_lookup_elem(&capture_cpu, &zero);
	if (!c)
		return 0;
	if (!cap_wanted(ctx, cfg)) {
		c->filtered++;
		return 0;
	}
	now = bpf_ktime_get_ns();
	if (cfg->rate) {
		if (c->window != now >> 30) {
			c->window = now >> 30;
			c->sent = 0;
		}
		if (c->sent >= cfg->rate) {
			c->limited++;
			return 0;
		}
	}
	r = bpf_ringbuf_reserve(&capture_ring, sizeof(*r), 0);
	if (!r) {
		c->lost++;
		return 0;
	}
	c->sent++;
	len = ctx->data_end - ctx->data;
	cap = len < cfg->snaplen ? len : cfg->snaplen;
	if (cap - 1 >= CAPTURE_SNAP_MAX)
		cap = CAPTURE_SNAP_MAX;
	/* Branch-free [1, CAPTURE_SNAP_MAX] (a power of two) the verifier tracks at any -mcpu. */
	cap = ((cap - 1) & (CAPTURE_SNAP_MAX - 1)) + 1;
	r->ts_ns = now;
	r->verdict = st;
	r->len = len;
	r->cpu = bpf_get_smp_processor_id();
	if (bpf_xdp_load_bytes(ctx, 0, r->data, cap))
		cap = 0;
	r->cap_len = cap;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

static __always_inline void capture(struct xdp_md *ctx, int st)
{
	__u32 zero = 0;
	struct capture_cfg *cfg = bpf_map_lookup_elem(&capture_cfg, &zero);

	if (cfg && cfg->on)
		capture_slow(ctx, st, cfg);
}

#endif
