/* quic.h — QUIC connection-id routing: find the real a short-header packet's server id names. */
#ifndef STERLET_QUIC_H
#define STERLET_QUIC_H

#include "maps.h"
#include "parsing.h"
#include "stats.h"

/*
 * Connection-ID layout Sterlet routes on (servers must mint CIDs this way):
 *   packet byte 0, bit 0x80: header form; set = long header (client-chosen
 *     DCID: the ring decides), clear = short header (1-RTT)
 *   short header, DCID byte 0: bits 7-6 = CID layout version, must be 01;
 *     bits 5-0 are the server's own (key phase, rotation, entropy)
 *   DCID bytes 1-2: server id, big endian, 1..65535 (0 = none)
 *   the remaining DCID bytes are opaque (use >= 5 random bytes; 8-20 total)
 * The server id maps to a real through `quic_servers`; an unknown id (or a
 * wrong version) falls back to the ring, counted as STAT_EV_QUIC_CID_MISS.
 */
#define QUIC_LONG_HEADER 0x80
#define QUIC_CID_VERSION 1

/* Real index for the packet's server id, or 0 to use the ring. */
static __always_inline __u32 quic_pick_real(void *data, void *data_end, const struct pkt *p)
{
	__u8 *q = data + PKT_OFF(p->l4_off) + UDP_HLEN;
	__u32 id, *real;

	if ((void *)(q + 4) > data_end) {
		stat_add(&stats, STAT_EV_QUIC_CID_MISS, 0);
		return 0;
	}
	if (q[0] & QUIC_LONG_HEADER) {
		stat_add(&stats, STAT_EV_QUIC_LONG, 0);
		return 0;
	}
	id = ((__u32)q[2] << 8) | q[3];
	real = bpf_map_lookup_elem(&quic_servers, &id);
	if ((q[1] >> 6) != QUIC_CID_VERSION || !id || !real || !*real) {
		stat_add(&stats, STAT_EV_QUIC_CID_MISS, 0);
		return 0;
	}
	stat_add(&stats, STAT_EV_QUIC_CID_HIT, 0);
	return *real;
}

#endif
