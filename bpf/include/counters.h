/* counters.h — the one numbered list of counters, mirrored by src/agent/dataplane/counters.ts. */
#ifndef STERLET_COUNTERS_H
#define STERLET_COUNTERS_H

/*
 * Balancer `stats` (PERCPU_ARRAY of struct lb_stat) layout:
 *   [0, STAT_GLOBAL_NR)                      global counters below
 *   [STAT_VIP_BASE + vip index]              per VIP (packets/bytes forwarded)
 *   [STAT_VIP_BASE + max_vips + real index]  per real (packets/bytes sent to it)
 * Numbers are stable: a retired counter keeps its number, new ones are appended.
 * Every packet increments exactly one verdict (STAT_TX_*, STAT_PASS_*, STAT_DROP_*);
 * event counters (STAT_EV_*) come on top.
 */
#define STAT_TX_FORWARD		0  /* encapsulated to a real */
#define STAT_TX_ICMP_ECHO	1  /* echo reply from a VIP address */
#define STAT_TX_ICMP_TOO_BIG	2  /* frag-needed / packet-too-big generated */
#define STAT_TX_ICMP_ERR_FWD	3  /* ICMP error quoting a VIP flow, sent to its real */
#define STAT_PASS_NON_IP	4  /* not IPv4/IPv6 (ARP, LLDP, ...) */
#define STAT_PASS_NOT_VIP	5  /* IP, destination is no VIP */
#define STAT_PASS_OTHER_PROTO	6  /* not TCP/UDP/ICMP/ICMPv6 */
#define STAT_PASS_ICMP		7  /* ICMP we do not handle (other types, no VIP flow) */
#define STAT_DROP_TRUNCATED	8  /* a header runs past the frame */
#define STAT_DROP_BAD_IP	9  /* bad version, IPv4 ihl < 5, IP length beyond the frame */
#define STAT_DROP_V4_OPTIONS	10 /* IPv4 with options to a VIP address */
#define STAT_DROP_V4_FRAG	11 /* IPv4 fragment to a VIP address */
#define STAT_DROP_V6_FRAG	12 /* IPv6 fragment to a VIP address */
#define STAT_DROP_NO_REAL	13 /* empty ring slot (real 0) or real not present */
#define STAT_DROP_ADJUST	14 /* bpf_xdp_adjust_head/tail failed */
#define STAT_DROP_BAD_VIP	15 /* VIP index >= max_vips: maps written wrong */
#define STAT_EV_LRU_HIT		16 /* connection table hit */
#define STAT_EV_LRU_MISS	17 /* connection table miss (ring used) */
#define STAT_EV_LRU_FALLBACK	18 /* CPU had no inner LRU: fallback LRU used */
#define STAT_EV_LRU_SKIP	19 /* LRU not trusted: SYN re-pick or VIP without tracking */
#define STAT_EV_LRU_EXPIRED	20 /* UDP entry older than udp_timeout: re-picked */
#define STAT_EV_QUIC_CID_HIT	21 /* short header routed by server id */
#define STAT_EV_QUIC_CID_MISS	22 /* short header, server id unknown for this VIP: ring */
#define STAT_EV_QUIC_LONG	23 /* long header: ring */
#define STAT_EV_ICMP_GENERATED	24 /* any ICMP we originated (echo reply, too-big) */
#define STAT_EV_LRU_INSERT_FAIL 25 /* bpf_map_update_elem on the LRU failed */
#define STAT_EV_LRU_REAL_GONE	26 /* entry named a real that is gone: re-picked, overwritten */
#define STAT_EV_QUIC_REAL_GONE	27 /* server id names a real that is gone: ring */
#define STAT_EV_QUIC_FAMILY	28 /* server id names an IPv4 real for an IPv6 VIP: ring */
#define STAT_EV_FLOW_CACHE_HIT	29 /* of the STAT_EV_LRU_HIT, answered by the flow cache */
#define STAT_GLOBAL_NR		32
#define STAT_VIP_BASE		STAT_GLOBAL_NR

/* Decap `decap_stats` (PERCPU_ARRAY of struct lb_stat), same rules. */
#define DSTAT_IPIP	      0	 /* IPv4 in IPv4 stripped */
#define DSTAT_IP6IP6	      1	 /* IPv6 in IPv6 stripped */
#define DSTAT_V4_IN_V6	      2	 /* IPv4 in IPv6 stripped */
#define DSTAT_V6_IN_V4	      3	 /* IPv6 in IPv4 stripped */
#define DSTAT_GUE4	      4	 /* GUE over IPv4 stripped */
#define DSTAT_GUE6	      5	 /* GUE over IPv6 stripped */
#define DSTAT_PASS_NOT_TUNNEL 6	 /* not a tunnel packet */
#define DSTAT_PASS_NOT_LOCAL  7	 /* tunnel to an address that is not ours */
#define DSTAT_DROP_TRUNCATED  8	 /* tunnel headers run past the frame */
#define DSTAT_DROP_ADJUST     9	 /* bpf_xdp_adjust_head failed */
#define DSTAT_PASS_GUE_OTHER  10 /* GUE control message or unknown inner protocol */
#define DSTAT_NR	      16

#endif
