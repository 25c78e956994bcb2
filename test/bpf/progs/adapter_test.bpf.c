// SPDX-License-Identifier: GPL-2.0
// Tiny object for the libbpf adapter tests: one map of each shape the
// agent uses and two XDP programs to attach, replace and test-run.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} verdict SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} resizable SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} percpu SEC(".maps");

// Inner shape is supplied by the loader (setInnerMap).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} outer SEC(".maps");

const volatile __u32 xor_byte = 0xff;

SEC("xdp")
int xdp_adapter(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0, *v;
	__u64 one = 1, *cnt;

	cnt = bpf_map_lookup_elem(&counters, &zero);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		bpf_map_update_elem(&counters, &zero, &one, BPF_NOEXIST);

	v = bpf_map_lookup_elem(&percpu, &zero);
	if (v)
		*v += 1;

	if ((void *)(data + 1) <= data_end)
		data[0] ^= (unsigned char)xor_byte;

	v = bpf_map_lookup_elem(&verdict, &zero);
	return v && *v ? *v : XDP_PASS;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
