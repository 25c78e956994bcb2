// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench.bpf.c — benchmark-only entries around the balancer pipeline.
 * BPF_PROG_TEST_RUN `repeat` re-runs a program on the buffer the previous run
 * rewrote, so every entry first restores the original frame from bench_frames
 * (undoing the previous encapsulation with bpf_xdp_adjust_head) and may stamp a
 * per-run sequence number into it (a new flow every run). The floors measure
 * that restore alone, and restore + encapsulation without any map lookup.
 */
#include "../balancer.bpf.c"

#define BENCH_FRAME_MAX 256

struct bench_frame {
	__u32 len;	/* bytes of data to restore */
	__u32 seq_off;	/* offset of a u32 set to a per-run sequence number; 0 = none */
	__u32 seq_base; /* first sequence number */
	__u32 flows;	/* bench_balancer_flows: sequence numbers wrap after this many (flows in turn) */
	__u8 data[BENCH_FRAME_MAX];
};

/* The original frame (one entry, written by bench/dataplane.ts). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct bench_frame);
	__uint(max_entries, 1);
} bench_frames SEC(".maps");

/* Per-run sequence counter. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} bench_seq SEC(".maps");

static __always_inline int bench_restore_wrapping(struct xdp_md *ctx, int wrap)
{
	struct bench_frame *f;
	__u32 zero = 0, len, *seq, n;
	void *data, *data_end;
	int cur;

	f = bpf_map_lookup_elem(&bench_frames, &zero);
	seq = bpf_map_lookup_elem(&bench_seq, &zero);
	if (!f || !seq)
		return -1;
	/* Read after the helper calls: a packet pointer must not be spilled as 32 bits. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	cur = data_end - data;
	len = f->len;
	if (len < ETH_HLEN_ || len > BENCH_FRAME_MAX)
		return -1;
	if (cur != (int)len && bpf_xdp_adjust_head(ctx, cur - (int)len))
		return -1;
	if (bpf_xdp_store_bytes(ctx, 0, f->data, len))
		return -1;
	if (f->seq_off) {
		n = f->seq_base + (wrap && f->flows ? *seq % f->flows : *seq);
		(*seq)++;
		if (bpf_xdp_store_bytes(ctx, f->seq_off, &n, sizeof(n)))
			return -1;
	}
	return 0;
}

static __always_inline int bench_restore(struct xdp_md *ctx)
{
	return bench_restore_wrapping(ctx, 0);
}

/* Floor: the cost of running any XDP program through test_run. */
SEC("xdp")
int bench_trivial(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* Floor: restoring the frame every run. */
SEC("xdp")
int bench_restore_only(struct xdp_md *ctx)
{
	return bench_restore(ctx) ? XDP_ABORTED : XDP_TX;
}

/* Floor: restore + parse + IPIP encapsulation to a fixed real, no map lookups. */
SEC("xdp")
int bench_encap_only(struct xdp_md *ctx)
{
	struct lb_settings cfg = {.src4_prefix = bpf_htonl(0xac100000), .src4_bits = 16};
	struct real_def real = {.addr.v4 = bpf_htonl(0x0a000101), .flags = REAL_F_PRESENT};
	void *data, *data_end;
	struct pkt p = {};
	__u16 proto;

	if (bench_restore(ctx))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (parse_l2(data, data_end, &p, &proto) != PARSE_OK || proto != bpf_htons(ETH_P_IP_) ||
	    parse_ipv4(data, data_end, &p) != PARSE_OK)
		return XDP_DROP;
	return encap(ctx, &p, &real, &cfg, 0x12345678, 0) ? XDP_DROP : XDP_TX;
}

/* The balancer pipeline on the restored frame, counted exactly like balancer_ingress. */
static __always_inline int bench_pipeline(struct xdp_md *ctx, int wrap)
{
	void *data, *data_end;
	__u32 bytes;
	int st;

	if (bench_restore_wrapping(ctx, wrap))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	bytes = data_end - data;
	st = process_packet(ctx);
	stat_add(&stats, st, bytes);
	capture(ctx, st); /* as in balancer_ingress */
	return stat_action(st);
}

SEC("xdp")
int bench_balancer(struct xdp_md *ctx)
{
	return bench_pipeline(ctx, 0);
}

/* The pipeline over `flows` flows in turn (established ones: hits that the flow cache may not hold). */
SEC("xdp")
int bench_balancer_flows(struct xdp_md *ctx)
{
	return bench_pipeline(ctx, 1);
}

/*
 * Hit-path step ladder: restore, then the steps of an established TCP flow's
 * path up to `stop` (same helpers as the pipeline, no counters). Each entry
 * adds one step to the previous, so the difference of two medians is that
 * step's cost. Results feed the verdict so the compiler keeps every step.
 */
enum { STEP_PARSE = 1, STEP_VIP, STEP_HASH, STEP_LRU, STEP_REAL, STEP_ENCAP };

static __always_inline int bench_steps(struct xdp_md *ctx, int stop)
{
	__u32 zero = 0, cpu, outer;
	struct lb_settings *cfg;
	struct real_def *real;
	struct vip_meta *vip;
	struct lru_val *v;
	void *data, *data_end, *inner;
	struct pkt p = {};
	__u16 proto;
	int st;

	if (bench_restore(ctx))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (parse_l2(data, data_end, &p, &proto) != PARSE_OK)
		return XDP_DROP;
	if (proto == bpf_htons(ETH_P_IP_))
		st = parse_ipv4(data, data_end, &p);
	else
		st = parse_ipv6(data, data_end, &p);
	if (st != PARSE_OK || parse_ports(data, data_end, &p) != PARSE_OK)
		return XDP_DROP;
	if (stop == STEP_PARSE)
		return p.flow.sport == 1 ? XDP_DROP : XDP_PASS;
	vip = vip_lookup(&p.flow);
	if (!vip)
		return XDP_DROP;
	if (stop == STEP_VIP)
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&settings, &zero);
	if (!cfg)
		return XDP_DROP;
	outer = outer_hash(&p.flow);
	if (stop == STEP_HASH)
		return outer == 1 ? XDP_DROP : XDP_PASS;
	cpu = bpf_get_smp_processor_id();
	inner = bpf_map_lookup_elem(&conn_tables, &cpu);
	if (!inner)
		return XDP_DROP;
	v = bpf_map_lookup_elem(inner, &p.flow);
	if (!v)
		return XDP_DROP;
	if (stop == STEP_LRU)
		return outer == 1 ? XDP_DROP : XDP_PASS;
	real = live_real(v->real);
	if (!real)
		return XDP_DROP;
	if (stop == STEP_REAL)
		return outer == 1 ? XDP_DROP : XDP_PASS;
	return encap(ctx, &p, real, cfg, outer, vip->flags) ? XDP_DROP : XDP_TX;
}

/* One entry per rung of the ladder. */
#define BENCH_STEP(name, stop)                                                                    \
	SEC("xdp") int bench_step_##name(struct xdp_md *ctx)                                      \
	{                                                                                         \
		return bench_steps(ctx, stop);                                                    \
	}

BENCH_STEP(parse, STEP_PARSE)
BENCH_STEP(vip, STEP_VIP)
BENCH_STEP(hash, STEP_HASH)
BENCH_STEP(lru, STEP_LRU)
BENCH_STEP(real, STEP_REAL)
BENCH_STEP(encap, STEP_ENCAP)
