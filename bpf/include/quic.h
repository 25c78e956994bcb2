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
 * The server id maps to a real through `quic_reals`, keyed by the VIP the
 * packet was sent to: an id unknown for this VIP (or a wrong version) falls
 * back to the ring (STAT_EV_QUIC_CID_MISS), and so does an id whose real is
 * gone (STAT_EV_QUIC_REAL_GONE) or, for an IPv6 VIP, an IPv4 real
 * (STAT_EV_QUIC_FAMILY): a CID can only pick among the VIP's own backends.
 */
#define QUIC_LONG_HEADER 0x80
#define QUIC_CID_VERSION 1

/* Real index for the packet's server id with its present real in *real, or 0 to use the ring. */
static __always_inline __u32 quic_pick_real(void *data, void *data_end, const struct pkt *p,
					    const struct vip_meta *vip, struct real_def **real)
{
	__u8 *q = data + PKT_OFF(p->l4_off) + UDP_HLEN;
	struct quic_key k = {};
	struct real_def *r;
	__u32 *ridx;

	if ((void *)(q + 4) > data_end) {
		stat_add(&stats, STAT_EV_QUIC_CID_MISS, 0);
		return 0;
	}
	if (q[0] & QUIC_LONG_HEADER) {
		stat_add(&stats, STAT_EV_QUIC_LONG, 0);
		return 0;
	}
	k.vip = vip->index;
	k.server_id = ((__u32)q[2] << 8) | q[3];
	ridx = (q[1] >> 6) == QUIC_CID_VERSION && k.server_id ? bpf_map_lookup_elem(&quic_reals, &k) : NULL;
	if (!ridx || !*ridx) {
		stat_add(&stats, STAT_EV_QUIC_CID_MISS, 0);
		return 0;
	}
	r = bpf_map_lookup_elem(&reals, ridx);
	if (!r || !(r->flags & REAL_F_PRESENT)) {
		stat_add(&stats, STAT_EV_QUIC_REAL_GONE, 0);
		return 0;
	}
	if (p->flow.family == FAMILY_V6 && !(r->flags & REAL_F_V6)) {
		stat_add(&stats, STAT_EV_QUIC_FAMILY, 0);
		return 0;
	}
	stat_add(&stats, STAT_EV_QUIC_CID_HIT, 0);
	*real = r;
	return *ridx;
}

#endif
