/* consts.h — protocol numbers, flag bits, layout version and default sizes. */
#ifndef STERLET_CONSTS_H
#define STERLET_CONSTS_H

/*
 * Bumped whenever a map key/value layout or map set changes incompatibly.
 * Mirrored by LAYOUT_VERSION in src/agent/dataplane/layout.ts and stored by
 * the agent in lb_settings.layout_version so pinned maps can be checked.
 * 2: quic_servers (global ARRAY by server id) became quic_reals (HASH by VIP
 *    index + server id); the agent migrates layout-1 pins on start.
 * 3: the new vip_buckets ARRAY mirrors `vips` (the agent fills it from the
 *    pinned vips when it upgrades layout-2 pins); other maps unchanged.
 */
#define LAYOUT_VERSION 3

/* Default sizes; the loader overrides them without recompiling. */
#ifndef MAX_VIPS
#define MAX_VIPS 512
#endif
#ifndef MAX_REALS
#define MAX_REALS 4096
#endif
#ifndef RING_SIZE
#define RING_SIZE 65537
#endif
#ifndef MAX_CPUS
#define MAX_CPUS 128
#endif
#ifndef LRU_SIZE
#define LRU_SIZE 65536
#endif
#ifndef FALLBACK_LRU_SIZE
#define FALLBACK_LRU_SIZE 65536
#endif
#ifndef MAX_DECAP_ADDRS
#define MAX_DECAP_ADDRS 64
#endif
/* (VIP, server id) entries of quic_reals, all QUIC VIPs together. */
#ifndef MAX_QUIC_REALS
#define MAX_QUIC_REALS 65536
#endif

#define ETH_P_IP_     0x0800
#define ETH_P_IPV6_   0x86DD
#define ETH_P_8021Q_  0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_HLEN_     14
#define VLAN_HLEN_    4

#define IPPROTO_IPIP_	4
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define IPPROTO_IPV6_	41
#define IPPROTO_FRAG_	44
#define IPPROTO_ICMP_	1
#define IPPROTO_ICMPV6_ 58

#define IPV4_HLEN    20
#define IPV6_HLEN    40
#define UDP_HLEN     8
#define GUE_HLEN     4
#define ICMP_HLEN    8
#define IP_DF	     0x4000
#define IP_MF_OFFSET 0x3FFF
#define DEFAULT_TTL  64

#define TCP_F_FIN 0x01
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_ACK 0x10

#define ICMP_ECHO_REPLY_     0
#define ICMP_DEST_UNREACH_   3
#define ICMP_FRAG_NEEDED_    4
#define ICMP_ECHO_	     8
#define ICMPV6_DEST_UNREACH_ 1
#define ICMPV6_PKT_TOOBIG_   2
#define ICMPV6_ECHO_REQUEST_ 128
#define ICMPV6_ECHO_REPLY_   129

/* vip_meta.flags */
#define VIP_F_HASH_SRC	 (1U << 0) /* hash the source address only */
#define VIP_F_HASH_DPORT (1U << 1) /* hash the destination port only */
#define VIP_F_NO_LRU	 (1U << 2) /* connection tracking off: ring every packet */
#define VIP_F_QUIC	 (1U << 3) /* route QUIC short headers by CID server id */
#define VIP_F_GUE	 (1U << 4) /* GUE (UDP) instead of IPIP / IP6IP6 / 4-in-6 */
#define VIP_F_ADDR	 (1U << 5) /* address entry (port 0, proto 0): echo, drops */

/* vip_buckets: 2^VIP_BUCKET_BITS entries; vip_bucket.state */
#define VIP_BUCKET_BITS	 12
#define VIP_BUCKET_EMPTY 0 /* no vips key hashes here */
#define VIP_BUCKET_ONE	 1 /* exactly the key in this entry hashes here */
#define VIP_BUCKET_MANY	 2 /* several keys hash here: look the key up in vips */

/* real_def.flags */
#define REAL_F_PRESENT (1U << 0) /* slot holds a real (0 = deleted/unused) */
#define REAL_F_V6      (1U << 1) /* address is IPv6 */

/* decap_addr value flags */
#define DECAP_F_LOCAL (1U << 0)

/* LRU atime unit: 2^30 ns (~1.07 s), from bpf_ktime_get_coarse_ns(). */
#define ATIME_SHIFT 30

/* Address families in keys. */
#define FAMILY_V4 4
#define FAMILY_V6 6

#endif
