// SPDX-License-Identifier: Apache-2.0
/* pktgen.c — the packet generator of `make bench-pps`: sends prebuilt frames
 * out of one interface as fast as one CPU can, through an AF_PACKET TX ring
 * with PACKET_QDISC_BYPASS (no qdisc, no copy per send call).
 *
 *   pktgen --iface IF --frames FILE --seconds S [--cpu N] [--flood] [--count N] [--xdp OBJ]
 *   pktgen --frames FILE --dump N [--flood] [--xdp OBJ]  (print N frames as hex, no socket)
 *
 * FILE holds records of [u16 little-endian length][frame bytes] (written by
 * bench/lib/frames.ts). Frames are sent round-robin. --flood makes every
 * packet a new flow: the low 24 bits of the IPv4 source address and the TCP
 * source port come from a per-packet counter, with both checksums patched
 * incrementally (RFC 1624), so a kernel that checks them (conntrack) accepts
 * the packet. --count stops after N packets (tests).
 * --xdp OBJ (gen.bpf.o) sends the same packets without a socket: the XDP
 * program OBJ stamps them in page-pool frames that BPF_PROG_TEST_RUN's live
 * mode transmits (xdpgen.c); the frames must then differ only in the IPv4
 * source and TCP source port, and carry no IP options.
 * Prints one JSON line: {"sent":N,"seconds":S}. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "xdpgen.h"

#define MAX_FRAMES 65536
#define FRAME_SIZE 2048
#define RING_FRAMES 4096

struct frame {
	uint16_t len;
	uint8_t data[FRAME_SIZE - 64];
};

static struct frame *frames;
static unsigned nframes;

static void die(const char *what)
{
	fprintf(stderr, "pktgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(const char *why)
{
	fprintf(stderr, "pktgen: %s\nusage: pktgen --iface IF --frames FILE --seconds S [--cpu N] [--flood] [--count N] [--xdp OBJ]\n"
			"       pktgen --frames FILE --dump N [--flood] [--xdp OBJ]\n", why);
	exit(2);
}

static void load_frames(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t hdr[2];

	if (!f)
		die(path);
	frames = calloc(MAX_FRAMES, sizeof(*frames));
	if (!frames)
		die("calloc");
	while (fread(hdr, 1, 2, f) == 2) {
		uint16_t len = hdr[0] | hdr[1] << 8;

		if (nframes == MAX_FRAMES || len < 14 || len > sizeof(frames[0].data))
			usage("frames file: too many frames or a frame length outside 14..1984");
		if (fread(frames[nframes].data, 1, len, f) != len)
			usage("frames file: truncated frame");
		frames[nframes++].len = len;
	}
	fclose(f);
	if (!nframes)
		usage("frames file holds no frames");
}

/* One's-complement update of a 16-bit checksum for a 16-bit word change. */
static uint16_t csum_replace(uint16_t check, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~ntohs(check) + (uint16_t)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

static uint16_t get16(const uint8_t *p) { return p[0] << 8 | p[1]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* Offsets of an Ethernet/IPv4/TCP frame, or -1 when it is not one. */
static int tcp4_offsets(const uint8_t *d, unsigned len, unsigned *ip, unsigned *l4)
{
	if (len < 14 + 20 + 20 || get16(d + 12) != ETHERTYPE_IP || (d[14] >> 4) != 4 || d[14 + 9] != IPPROTO_TCP)
		return -1;
	*ip = 14;
	*l4 = 14 + (d[14] & 0xf) * 4;
	return *l4 + 20 <= len ? 0 : -1;
}

/* Stamps packet number `seq` into the source address (low 24 bits) and port. */
static void stamp_flow(uint8_t *d, unsigned ip, unsigned l4, uint32_t seq)
{
	uint16_t hi = get16(d + ip + 12), lo = get16(d + ip + 14), port = get16(d + l4);
	uint16_t nhi = (hi & 0xff00) | ((seq >> 16) & 0xff), nlo = seq & 0xffff;
	uint16_t nport = 1024 + (seq >> 24) * 1024 + (seq & 0x3ff);
	uint16_t ipc = get16(d + ip + 10), tcpc = get16(d + l4 + 16);

	put16(d + ip + 12, nhi);
	put16(d + ip + 14, nlo);
	put16(d + l4, nport);
	ipc = ntohs(csum_replace(htons(ipc), hi, nhi));
	ipc = ntohs(csum_replace(htons(ipc), lo, nlo));
	put16(d + ip + 10, ipc);
	/* The TCP checksum covers the addresses (pseudo header) and the port. */
	tcpc = ntohs(csum_replace(htons(tcpc), hi, nhi));
	tcpc = ntohs(csum_replace(htons(tcpc), lo, nlo));
	tcpc = ntohs(csum_replace(htons(tcpc), port, nport));
	put16(d + l4 + 16, tcpc);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void dump(unsigned n, int flood)
{
	unsigned ip = 0, l4 = 0;

	for (unsigned i = 0; i < n; i++) {
		struct frame *fr = &frames[i % nframes];
		uint8_t buf[FRAME_SIZE];

		memcpy(buf, fr->data, fr->len);
		if (flood) {
			if (tcp4_offsets(buf, fr->len, &ip, &l4))
				usage("--flood needs Ethernet/IPv4/TCP frames");
			stamp_flow(buf, ip, l4, i);
		}
		for (unsigned j = 0; j < fr->len; j++)
			printf("%02x", buf[j]);
		putchar('\n');
	}
}

/* The --xdp program's config and flows from the frames: frame 0 is the
 * template, every frame must equal it but for source address, port and sums. */
static struct gen_flow *xdp_flows(unsigned ifindex, int flood, struct gen_config *cfg)
{
	static const unsigned varying[][2] = { { GEN_IP + 10, 6 }, { GEN_L4, 2 }, { GEN_L4 + 16, 2 } };
	struct gen_flow *flows = calloc(nframes, sizeof(*flows));
	const uint8_t *t = frames[0].data;
	unsigned ip, l4;

	if (!flows)
		die("calloc");
	for (unsigned i = 0; i < nframes; i++) {
		const uint8_t *d = frames[i].data;

		if (tcp4_offsets(d, frames[i].len, &ip, &l4) || l4 != GEN_L4)
			usage("--xdp needs Ethernet/IPv4/TCP frames without IP options");
		if (frames[i].len > GEN_MAX_LEN)
			usage("--xdp takes frames of at most 128 bytes (headers only)");
		if (frames[i].len != frames[0].len)
			usage("--xdp needs frames of one length (they differ only in source address and port)");
		for (unsigned j = 0, v = 0; j < frames[i].len; j++) {
			if (v < 3 && j == varying[v][0]) {
				j += varying[v++][1] - 1;
				continue;
			}
			if (d[j] != t[j])
				usage("--xdp needs frames that differ only in IPv4 source, TCP source port and checksums");
		}
		memcpy(&flows[i].saddr, d + GEN_IP + 12, 4);
		memcpy(&flows[i].sport, d + GEN_L4, 2);
	}
	*cfg = (struct gen_config){ .ifindex = ifindex, .nflows = nframes, .flood = flood };
	cfg->len = frames[0].len;
	memcpy(cfg->frame, t, frames[0].len);
	memcpy(&cfg->saddr, t + GEN_IP + 12, 4);
	memcpy(&cfg->sport, t + GEN_L4, 2);
	memcpy(&cfg->ip_check, t + GEN_IP + 10, 2);
	memcpy(&cfg->tcp_check, t + GEN_L4 + 16, 2);
	return flows;
}

/* --xdp: dump or send through the generator XDP program; returns main's exit code. */
static int xdp_main(const char *obj, const char *iface, double seconds, int flood, long dump_n, uint64_t count)
{
	struct gen_config cfg;
	unsigned ifindex = 1; /* dumps never transmit: any device will do */
	double elapsed = 0;

	if (dump_n < 0 && !(ifindex = if_nametoindex(iface)))
		die(iface);
	struct gen_flow *flows = xdp_flows(ifindex, flood, &cfg);
	int fd = xdpgen_load(obj, &cfg, flows);

	free(flows);
	if (dump_n >= 0) {
		xdpgen_dump(fd, frames[0].data, frames[0].len, dump_n);
		return 0;
	}
	uint64_t sent = xdpgen_send(fd, frames[0].data, frames[0].len, seconds, count, &elapsed);
	printf("{\"sent\":%llu,\"seconds\":%.6f}\n", (unsigned long long)sent, elapsed);
	return 0;
}

int main(int argc, char **argv)
{
	const char *iface = NULL, *path = NULL, *xdp = NULL;
	double seconds = 0;
	int cpu = -1, flood = 0;
	long dump_n = -1;
	uint64_t count = UINT64_MAX;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--flood")) { flood = 1; continue; }
		if (!v)
			usage("every option but --flood takes a value");
		if (!strcmp(a, "--iface")) iface = v;
		else if (!strcmp(a, "--frames")) path = v;
		else if (!strcmp(a, "--seconds")) seconds = atof(v);
		else if (!strcmp(a, "--cpu")) cpu = atoi(v);
		else if (!strcmp(a, "--dump")) dump_n = atol(v);
		else if (!strcmp(a, "--count")) count = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--xdp")) xdp = v;
		else usage("unknown option");
		i++;
	}
	if (!path)
		usage("--frames is required");
	load_frames(path);
	if (xdp && dump_n >= 0)
		return xdp_main(xdp, NULL, 0, flood, dump_n, count);
	if (dump_n >= 0) {
		dump(dump_n, flood);
		return 0;
	}
	if (!iface || seconds <= 0)
		usage("--iface and a positive --seconds are required");
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			die("sched_setaffinity (--cpu)");
	}
	if (xdp)
		return xdp_main(xdp, iface, seconds, flood, -1, count);

	int fd = socket(AF_PACKET, SOCK_RAW, 0), one = 1, ver = TPACKET_V2;
	unsigned ifindex = if_nametoindex(iface);

	if (fd < 0)
		die("socket(AF_PACKET)");
	if (!ifindex)
		die(iface);
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
		die("setsockopt(PACKET_VERSION/PACKET_QDISC_BYPASS)");
	struct tpacket_req req = {
		.tp_block_size = FRAME_SIZE * 64,
		.tp_block_nr = RING_FRAMES / 64,
		.tp_frame_size = FRAME_SIZE,
		.tp_frame_nr = RING_FRAMES,
	};
	if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)))
		die("setsockopt(PACKET_TX_RING)");
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = ifindex };
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		die("bind");
	uint8_t *ring = mmap(NULL, (size_t)FRAME_SIZE * RING_FRAMES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED)
		die("mmap(TX ring)");

	unsigned ip = 0, l4 = 0, slot = 0, next = 0;
	const unsigned data_off = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
	uint64_t sent = 0, queued = 0;
	uint32_t seq = 0;
	double start = now(), end = start + seconds, t = start;

	if (flood)
		for (unsigned i = 0; i < nframes; i++)
			if (tcp4_offsets(frames[i].data, frames[i].len, &ip, &l4))
				usage("--flood needs Ethernet/IPv4/TCP frames");
	while (t < end && queued < count) {
		/* Fill every free slot, then one send() kicks the whole batch. */
		for (;;) {
			struct tpacket2_hdr *h = (void *)(ring + (size_t)slot * FRAME_SIZE);
			struct frame *fr = &frames[next];

			if (h->tp_status != TP_STATUS_AVAILABLE || queued == count)
				break;
			uint8_t *d = (uint8_t *)h + data_off;
			memcpy(d, fr->data, fr->len);
			if (flood)
				stamp_flow(d, 14, 14 + (d[14] & 0xf) * 4, seq++);
			h->tp_len = fr->len;
			__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
			slot = (slot + 1) % RING_FRAMES;
			next = (next + 1) % nframes;
			queued++;
		}
		if (send(fd, NULL, 0, 0) < 0 && errno != ENOBUFS && errno != EAGAIN)
			die("send");
		sent = queued;
		t = now();
	}
	/* Let the kernel finish the queued slots, then count what it really sent. */
	for (int i = 0; i < 100 && send(fd, NULL, 0, 0) < 0 && (errno == ENOBUFS || errno == EAGAIN); i++)
		usleep(1000);
	for (unsigned i = 0, pending = 0; i < RING_FRAMES; i++) {
		struct tpacket2_hdr *h = (void *)(ring + (size_t)i * FRAME_SIZE);
		if (h->tp_status != TP_STATUS_AVAILABLE)
			pending++;
		if (i == RING_FRAMES - 1)
			sent -= pending;
	}
	printf("{\"sent\":%llu,\"seconds\":%.6f}\n", (unsigned long long)sent, t - start);
	close(fd);
	return 0;
}
