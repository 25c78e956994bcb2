// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* balancer.bpf.c — the XDP balancer: the verdict pipeline only; concerns live in include/. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "structs.h"
#include "counters.h"
#include "maps.h"
#include "stats.h"
#include "parsing.h"
#include "hash.h"
#include "encap.h"
#include "icmp.h"
#include "quic.h"
#include "capture.h"
#include "clock.h"
#include "flow_cache.h"

/*
 * The vips value of key k: from its vip_buckets entry (an inlined array read
 * and a 20-byte compare instead of a hash-table lookup), or from vips itself
 * when several keys share the bucket. An empty bucket, or one holding another
 * key, means k is not in vips (the agent keeps the two in step).
 */
static __always_inline struct vip_meta *vip_find(const struct vip_key *k)
{
	__u32 b = vip_bucket_of(k);
	struct vip_bucket *e = bpf_map_lookup_elem(&vip_buckets, &b);
	const __u32 *a, *w = (const __u32 *)k;

	if (!e || e->state == VIP_BUCKET_MANY)
		return bpf_map_lookup_elem(&vips, k);
	a = (const __u32 *)&e->key;
	if (e->state == VIP_BUCKET_ONE && a[0] == w[0] && a[1] == w[1] && a[2] == w[2] &&
	    a[3] == w[3] && a[4] == w[4])
		return &e->meta;
	return NULL;
}

/* VIP for (dst, dport, proto); port-less VIP (port 0) as fallback. */
static __always_inline struct vip_meta *vip_lookup(const struct flow_key *f)
{
	struct vip_key k = {};
	struct vip_meta *vip;

	k.addr = f->dst;
	k.port = f->dport;
	k.proto = f->proto;
	k.family = f->family;
	vip = vip_find(&k);
	if (vip)
		return vip;
	k.port = 0;
	return vip_find(&k);
}

/* Is the destination one of our VIP addresses (address entry, proto 0)? */
static __always_inline struct vip_meta *vip_addr_lookup(const struct flow_key *f)
{
	struct vip_key k = {};

	k.addr = f->dst;
	k.family = f->family;
	return vip_find(&k);
}

/* A present real, or NULL (index out of range, or the slot was deleted / never used). */
static __always_inline struct real_def *live_real(__u32 ridx)
{
	struct real_def *real = bpf_map_lookup_elem(&reals, &ridx);

	return real && (real->flags & REAL_F_PRESENT) ? real : NULL;
}

/*
 * The connection-table write a pick owes. It is done by lru_commit() only once
 * the packet is really forwarded, so an oversize packet answered with ICMP (or
 * one encap drops) neither creates nor changes an entry.
 */
struct lru_write {
	void *lru;	    /* insert nv into this table; NULL = no insert */
	struct lru_val *v;  /* or rewrite this existing entry with nv; NULL = none */
	struct lru_val nv;
	__u8 fill; /* a table hit on a CPU with its own table: nv goes to the flow cache */
};

/*
 * Real index from the flow cache, the connection table or the VIP's ring,
 * with its present real in *real; 0 = none. An entry naming a real that is
 * gone (backend removed) is not trusted: the ring re-picks and the entry is
 * overwritten. Reads the table only; the write it decides on goes to *w.
 * `ohash` is the flow's outer hash (its cache slot).
 */
static __always_inline __u32 pick_real(const struct pkt *p, const struct vip_meta *vip,
				       const struct lb_settings *cfg, __u32 ohash,
				       struct real_def **real, struct lru_write *w)
{
	__u8 syn =
	    p->flow.proto == IPPROTO_TCP_ && (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN;
	__u8 udp = p->flow.proto == IPPROTO_UDP_;
	struct lru_val *v = NULL;
	void *lru = NULL, *inner = NULL;
	__u8 fallback = 0, ring_first = syn || (vip->flags & VIP_F_NO_LRU), clocked;
	__u32 ring_slot, *r, now = 0, ridx, hash = 0;

	/*
	 * A SYN, or a VIP without connection tracking, ends at the ring: hash now,
	 * so the hash overlaps the table lookup instead of waiting for it (the
	 * empty asm keeps the compiler from sinking it to its use). Any other
	 * packet hashes only on a miss: a hit needs no ring hash.
	 */
	if (ring_first) {
		hash = flow_hash(&p->flow, vip->flags);
		asm volatile("" : "+r"(hash));
	}
	if (!(vip->flags & VIP_F_NO_LRU)) {
		__u32 cpu = bpf_get_smp_processor_id();

		inner = bpf_map_lookup_elem(&conn_tables, &cpu);
		fallback = !inner;
	}
	/*
	 * Every entry carries its last-seen time: UDP ages out by it, the agent
	 * counts recent flows per real by it, the flow cache trusts a slot for
	 * the unit it was written in. A SYN reads the clock only where it writes,
	 * so a SYN flood never does.
	 */
	clocked = udp || (inner && !syn);
	if (clocked)
		now = atime_now();
	/*
	 * The flow cache (flow_cache.h). A slot of this flow that cannot answer
	 * (stale, a SYN, a real gone) is dropped: the table path decides, and
	 * only a table hit fills the slot again.
	 */
	if (inner) {
		struct flow_cache_slot *slot = flow_cache_slot(ohash);

		if (slot && flow_cache_holds(slot, &p->flow)) {
			if (!syn && flow_cache_fresh(slot, now)) {
				ridx = slot->real;
				*real = live_real(ridx);
				if (*real) {
					stat_add(&stats, STAT_EV_LRU_HIT, 0);
					stat_add(&stats, STAT_EV_FLOW_CACHE_HIT, 0);
					return ridx;
				}
			}
			slot->real = 0;
		}
	}
	/*
	 * One call site per map, chosen by a flag the verifier can follow: it does
	 * not inline a lookup whose call site may see two maps (that lookup would
	 * cost an indirect call). The counter keeps the compiler from merging them.
	 */
	if (inner) {
		lru = inner;
		v = bpf_map_lookup_elem(inner, &p->flow);
	} else if (fallback) {
		lru = &fallback_lru;
		v = bpf_map_lookup_elem(&fallback_lru, &p->flow);
		stat_add(&stats, STAT_EV_LRU_FALLBACK, 0);
	}
	if (!lru || syn) {
		stat_add(&stats, STAT_EV_LRU_SKIP, 0);
	} else if (v && !(udp && cfg->udp_timeout && now - v->atime > cfg->udp_timeout)) {
		ridx = v->real;
		*real = live_real(ridx);
		if (*real) {
			if (!clocked)
				now = atime_now();
			if (v->atime != now)
				w->v = v;
			w->nv.real = ridx;
			w->nv.atime = now;
			w->fill = !!inner;
			stat_add(&stats, STAT_EV_LRU_HIT, 0);
			return ridx;
		}
		stat_add(&stats, STAT_EV_LRU_REAL_GONE, 0);
		stat_add(&stats, STAT_EV_LRU_MISS, 0);
	} else {
		if (v)
			stat_add(&stats, STAT_EV_LRU_EXPIRED, 0);
		stat_add(&stats, STAT_EV_LRU_MISS, 0);
	}

	if (!ring_first)
		hash = flow_hash(&p->flow, vip->flags);
	ring_slot = vip->index * limits.ring_size + hash % limits.ring_size;
	r = bpf_map_lookup_elem(&ring, &ring_slot);
	if (!r || !*r)
		return 0;
	ridx = *r;
	/* Never write an entry naming a real that is not there (ring written before the real). */
	*real = live_real(ridx);
	if (!*real)
		return 0;
	/* RST ends the flow and ICMP errors only follow one: neither touches the table. */
	if (!lru || p->icmp_err || (p->tcp_flags & TCP_F_RST))
		return ridx;
	/*
	 * A SYN creates no entry; the handshake's ACK does. A SYN flood then costs a
	 * ring lookup per packet and cannot evict established flows from the table.
	 */
	if (!v && syn)
		return ridx;
	if (!clocked)
		now = atime_now();
	w->nv.real = ridx;
	w->nv.atime = now;
	/* An existing entry (SYN on a reused port, expired UDP, real gone) is corrected in place. */
	if (v) {
		w->v = v;
		return ridx;
	}
	w->lru = lru;
	return ridx;
}

/* Do the connection-table write pick_real decided on, and mirror a hit in the flow cache. */
static __always_inline void lru_commit(const struct pkt *p, struct lru_write *w, __u32 ohash)
{
	struct flow_cache_slot *slot;

	if (w->v) {
		w->v->real = w->nv.real;
		w->v->atime = w->nv.atime;
	} else if (w->lru && bpf_map_update_elem(w->lru, &p->flow, &w->nv, BPF_ANY)) {
		stat_add(&stats, STAT_EV_LRU_INSERT_FAIL, 0);
		return;
	}
	/* Looked up again rather than kept: a pointer live across the table call costs a spill. */
	if (w->fill && (slot = flow_cache_slot(ohash)))
		flow_cache_fill(slot, &p->flow, w->nv.real, w->nv.atime);
}

/* Send a VIP packet to its real: pick, check size, encapsulate, then write the table, count. */
static __always_inline int forward(struct xdp_md *ctx, const struct pkt *p,
				   const struct vip_meta *vip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 bytes = data_end - data;
	__u32 zero = 0, ridx = 0, olen, ohash;
	struct lb_settings *cfg;
	struct real_def *real = NULL;
	struct lru_write w = {};
	int st;

	cfg = bpf_map_lookup_elem(&settings, &zero);
	if (!cfg)
		return STAT_DROP_NO_REAL;
	if (vip->index >= limits.max_vips)
		return STAT_DROP_BAD_VIP;
	/* The IP length is copied into the outer header: it must fit the frame. */
	if (p->l3_off + p->ip_len > bytes)
		return STAT_DROP_BAD_IP;
	if ((vip->flags & VIP_F_QUIC) && p->flow.proto == IPPROTO_UDP_ && !p->icmp_err)
		ridx = quic_pick_real(data, data_end, p, vip, &real);
	ohash = outer_hash(&p->flow);
	if (!ridx)
		ridx = pick_real(p, vip, cfg, ohash, &real, &w);
	if (!ridx || !real)
		return STAT_DROP_NO_REAL;

	olen = (real->flags & REAL_F_V6 ? IPV6_HLEN : IPV4_HLEN) +
	       (vip->flags & VIP_F_GUE ? UDP_HLEN + GUE_HLEN : 0);
	if (cfg->mtu && p->ip_len + olen > cfg->mtu && !p->icmp_err &&
	    p->ip_len >= (p->flow.family == FAMILY_V4 ? QUOTE4 : QUOTE6) && cfg->mtu > olen) {
		stat_add(&stats, STAT_EV_ICMP_GENERATED, 0);
		return send_too_big(ctx, p, cfg->mtu - olen);
	}
	/* Bytes after the IP packet (padding) that would push the frame over the MTU are cut. */
	if (cfg->mtu && bytes > p->l3_off + p->ip_len && bytes - p->l3_off + olen > cfg->mtu &&
	    bpf_xdp_adjust_tail(ctx, (int)(p->l3_off + p->ip_len) - (int)bytes))
		return STAT_DROP_ADJUST;
	/*
	 * The outer source, GUE source port and flow label spread flows over the
	 * backend's RSS queues: a per-flow hash whatever the VIP's ring hash mode.
	 */
	st = encap(ctx, p, real, cfg, ohash, vip->flags);
	if (st)
		return st;
	lru_commit(p, &w, ohash);
	stat_add(&stats, STAT_VIP_BASE + vip->index, bytes);
	stat_add(&stats, STAT_VIP_BASE + limits.max_vips + ridx, bytes);
	return p->icmp_err ? STAT_TX_ICMP_ERR_FWD : STAT_TX_FORWARD;
}

/* ICMP/ICMPv6: echo to a VIP address, errors quoting a VIP flow; the rest passes. */
static __always_inline int process_icmp(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vip_meta *vip;
	__u8 type;
	int st;

	st = icmp_kind(data, data_end, p, &type);
	if (st != PARSE_OK)
		return st;
	if (p->flow.family == FAMILY_V4 ? type == ICMP_ECHO_ : type == ICMPV6_ECHO_REQUEST_) {
		if (!vip_addr_lookup(&p->flow))
			return STAT_PASS_NOT_VIP;
		/* A request shorter than its IP length would be answered with a malformed reply. */
		if (p->l3_off + p->ip_len > (__u32)(data_end - data))
			return STAT_DROP_BAD_IP;
		stat_add(&stats, STAT_EV_ICMP_GENERATED, 0);
		return echo_reply(data, data_end, p);
	}
	if (p->flow.family == FAMILY_V4
		? type != ICMP_DEST_UNREACH_
		: type != ICMPV6_DEST_UNREACH_ && type != ICMPV6_PKT_TOOBIG_)
		return STAT_PASS_ICMP;
	st = parse_icmp_quote(data, data_end, p);
	if (st != PARSE_OK)
		return st;
	vip = vip_lookup(&p->flow);
	if (!vip)
		return STAT_PASS_NOT_VIP;
	/* The quoted ports must be inside the error's IP packet, not in padding after it. */
	if (p->l4_off + ICMP_HLEN + (p->flow.family == FAMILY_V4 ? IPV4_HLEN : IPV6_HLEN) + 4 >
	    p->l3_off + p->ip_len)
		return STAT_DROP_TRUNCATED;
	return forward(ctx, p, vip);
}

/* The pipeline; returns the one verdict counter of this packet. */
static __always_inline int process_packet(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vip_meta *vip;
	struct pkt p = {};
	__u16 eth_proto;
	int st;

	st = parse_l2(data, data_end, &p, &eth_proto);
	if (st != PARSE_OK)
		return st;
	if (eth_proto == bpf_htons(ETH_P_IP_))
		st = parse_ipv4(data, data_end, &p);
	else if (eth_proto == bpf_htons(ETH_P_IPV6_))
		st = parse_ipv6(data, data_end, &p);
	else
		return STAT_PASS_NON_IP;
	/* Options and fragments are only our business when they target a VIP address. */
	if (st == STAT_DROP_V4_OPTIONS || st == STAT_DROP_V4_FRAG || st == STAT_DROP_V6_FRAG)
		return vip_addr_lookup(&p.flow) ? st : STAT_PASS_NOT_VIP;
	if (st != PARSE_OK)
		return st;
	/* ICMP of the packet's own family only: ICMPv4 in IPv6 (or v6 in v4) is another protocol. */
	if (p.flow.proto == (p.flow.family == FAMILY_V4 ? IPPROTO_ICMP_ : IPPROTO_ICMPV6_))
		return process_icmp(ctx, &p);
	st = parse_ports(data, data_end, &p);
	if (st != PARSE_OK)
		return st;
	vip = vip_lookup(&p.flow);
	if (!vip)
		return STAT_PASS_NOT_VIP;
	return forward(ctx, &p, vip);
}

SEC("xdp")
int balancer_ingress(struct xdp_md *ctx)
{
	__u32 bytes = ctx->data_end - ctx->data;
	int st = process_packet(ctx);

	stat_add(&stats, st, bytes);
	capture(ctx, st); /* sterlet dump (capture.h); off: one load and a branch */
	return stat_action(st);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
