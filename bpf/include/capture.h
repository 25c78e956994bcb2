/* capture.h — `sterlet dump`: copies handled frames into a ring buffer while a capture runs. */
#ifndef STERLET_CAPTURE_H
#define STERLET_CAPTURE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef CAPTURE_SNAP_MAX
#define CAPTURE_SNAP_MAX 512 /* bytes kept per frame at most; a power of two */
#endif
#ifndef CAPTURE_RING_BYTES
#define CAPTURE_RING_BYTES (1 << 22)
#endif

/* Written by `sterlet dump`; on == 0 costs one inlined array load and a branch. */
struct capture_cfg {
	__u32 on;
	__u32 snaplen;	/* <= CAPTURE_SNAP_MAX */
	__u32 verdicts; /* one bit per verdict counter (STAT_TX_* .. STAT_DROP_*) */
	__u32 rate;	/* records per CPU per ~1.07 s window; 0 = unbounded */
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
