// SPDX-License-Identifier: Apache-2.0
/* xdpgen.c — pktgen's --xdp generator: loads gen.bpf.o and runs it with
 * BPF_PROG_TEST_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES), so the
 * kernel builds each packet as an xdp_frame from a page pool and transmits
 * what the program redirects. No socket, no skb per packet: a frame reaching
 * a veth whose peer runs XDP stays an xdp_frame; a peer without XDP turns it
 * into an skb, as a NIC driver would. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xdpgen.h"

/* The first test run measures the rate; later ones last about CHUNK_SECONDS. */
#define FIRST_CHUNK 65536
#define CHUNK_SECONDS 0.5

static void fail(const char *what, int err)
{
	fprintf(stderr, "pktgen --xdp: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int xdpgen_load(const char *path, const struct gen_config *cfg, const struct gen_flow *flows)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_map *map, *rodata = NULL, *flow_map = NULL;
	struct bpf_program *prog;
	size_t size = 0;
	int err;

	if (!obj)
		fail(path, errno);
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map) && strstr(bpf_map__name(map), ".rodata"))
			rodata = map;
		else if (!strcmp(bpf_map__name(map), "flows"))
			flow_map = map;
	}
	if (!rodata || !flow_map)
		fail("gen.bpf.o has no .rodata or flows map (stale build? run make bench-pps)", EINVAL);
	void *init = bpf_map__initial_value(rodata, &size);
	if (!init || size != sizeof(*cfg))
		fail("gen.bpf.o's .rodata is not one struct gen_config (stale build?)", EINVAL);
	memcpy(init, cfg, sizeof(*cfg));
	if ((err = bpf_map__set_max_entries(flow_map, cfg->nflows ? cfg->nflows : 1)))
		fail("flows map size", err);
	if ((err = bpf_object__load(obj)))
		fail("loading gen.bpf.o", err);
	for (__u32 i = 0; i < cfg->nflows; i++)
		if ((err = bpf_map_update_elem(bpf_map__fd(flow_map), &i, &flows[i], BPF_ANY)))
			fail("filling the flows map", err);
	prog = bpf_object__find_program_by_name(obj, "gen");
	if (!prog)
		fail("gen.bpf.o has no program gen", ENOENT);
	return bpf_program__fd(prog);
}

void xdpgen_dump(int prog_fd, const uint8_t *tmpl, unsigned len, unsigned n)
{
	uint8_t out[4096];

	for (unsigned i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = tmpl, .data_size_in = len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
		int err = bpf_prog_test_run_opts(prog_fd, &opts);

		if (err)
			fail("BPF_PROG_TEST_RUN", err);
		if (opts.retval != XDP_REDIRECT)
			fail("the generator did not redirect the frame", EPROTO);
		for (unsigned j = 0; j < opts.data_size_out; j++)
			printf("%02x", out[j]);
		putchar('\n');
	}
}

uint64_t xdpgen_send(int prog_fd, const uint8_t *tmpl, unsigned len, double seconds, uint64_t count, double *elapsed)
{
	double start = now(), end = start + seconds, t = start;
	uint64_t sent = 0, chunk = FIRST_CHUNK;

	while (t < end && sent < count) {
		uint64_t left = count - sent;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = tmpl, .data_size_in = len,
			    .repeat = (__u32)(left < chunk ? left : chunk), .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
		int err = bpf_prog_test_run_opts(prog_fd, &opts);

		if (err == -EPERM && sent == 0) {
			/* Some kernels refuse live frames to root (seen on a 6.18 build in
			 * lockdown=integrity): say which generator still works. */
			fprintf(stderr, "pktgen --xdp: this kernel refuses BPF_PROG_TEST_RUN live frames (EPERM);"
					" send with the AF_PACKET ring instead (no --xdp; BENCH_GEN=packet)\n");
			exit(XDPGEN_REFUSED);
		}
		if (err)
			fail("BPF_PROG_TEST_RUN (live frames)", err);
		sent += opts.repeat;
		t = now();
		/* Each run ends with a page-pool teardown that waits for an RCU grace
		 * period (the CPU idles meanwhile): make runs long, sized from the
		 * rate so far to at most CHUNK_SECONDS or what is left. */
		double rate = sent / (t - start), rest = end - t;

		chunk = (uint64_t)(rate * (rest < CHUNK_SECONDS ? rest : CHUNK_SECONDS));
		if (chunk < 1024)
			chunk = 1024;
		if (chunk > UINT32_MAX)
			chunk = UINT32_MAX;
	}
	*elapsed = t - start;
	return sent;
}
