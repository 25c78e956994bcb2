/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* gen.h — shared by gen.bpf.c (the generator XDP program) and xdpgen.c (its
 * loader): the template's fields the program starts from, and one flow. */
#ifndef STERLET_BENCH_GEN_H
#define STERLET_BENCH_GEN_H
#include <linux/types.h>

/* Offsets the program writes at: Ethernet, IPv4 without options, TCP. */
#define GEN_IP 14
#define GEN_L4 34
/* Longest template: the program rewrites the whole frame every time. */
#define GEN_MAX_LEN 128

/* Everything in network byte order, as in the template frame. */
struct gen_config {
	__u32 ifindex;   /* where bpf_redirect sends each frame */
	__u32 nflows;    /* entries of the flows map (fixed flows) */
	__u32 flood;     /* 1: a new source per packet from the counter */
	__u32 saddr;     /* the template's IPv4 source */
	__u16 sport;     /* the template's TCP source port */
	__u16 ip_check;  /* the template's IPv4 header checksum */
	__u16 tcp_check; /* the template's TCP checksum */
	__u16 pad;
	__u32 len;       /* template length, GEN_L4 + 20 .. GEN_MAX_LEN */
	__u8 frame[GEN_MAX_LEN]; /* the template frame */
};

struct gen_flow {
	__u32 saddr;
	__u16 sport;
	__u16 pad;
};
#endif
