/* SPDX-License-Identifier: Apache-2.0 */
/* xdpgen.h — pktgen's --xdp generator (xdpgen.c). */
#ifndef STERLET_BENCH_XDPGEN_H
#define STERLET_BENCH_XDPGEN_H
#include <stdint.h>
#include "gen.h"

/* pktgen's exit code when the kernel refuses live frames: the caller may fall back to AF_PACKET. */
#define XDPGEN_REFUSED 3

/* Loads gen.bpf.o with cfg and cfg->nflows flows; returns the program's fd (exits on error). */
int xdpgen_load(const char *path, const struct gen_config *cfg, const struct gen_flow *flows);

/* Runs the program n times on the template without transmitting; prints each output frame as hex. */
void xdpgen_dump(int prog_fd, const uint8_t *tmpl, unsigned len, unsigned n);

/* Transmits stamped copies of the template (live frames) for `seconds` or `count` packets,
 * whichever ends first, on the calling CPU; returns the packets sent, *elapsed the time taken. */
uint64_t xdpgen_send(int prog_fd, const uint8_t *tmpl, unsigned len, double seconds, uint64_t count, double *elapsed);
#endif
