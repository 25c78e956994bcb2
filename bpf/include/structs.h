/* structs.h — map keys and values shared with TypeScript (src/agent/dataplane/layout.ts). */
#ifndef STERLET_STRUCTS_H
#define STERLET_STRUCTS_H

#include <linux/types.h>

/* An IPv4 address lives in v4 (= v6[0]); the other words stay zero. */
union addr {
	__be32 v4;
	__be32 v6[4];
};

/* vips key: (address, port, protocol, family). Port 0 = every port. */
struct vip_key {
	union addr addr;
	__be16 port;
	__u8 proto; /* 0 with port 0 = address entry (VIP_F_ADDR) */
	__u8 family;
};

/* vips value: everything the fast path needs from one lookup. */
struct vip_meta {
	__u32 flags; /* VIP_F_* */
	__u32 index; /* ring base = index * ring_size; counters at STAT_VIP_BASE + index */
};

/* reals value, indexed by real index (0 reserved = no backend). */
struct real_def {
	union addr addr;
	__u32 flags; /* REAL_F_* */
};

/* quic_reals key: a server id is only meaningful within the VIP that minted it. */
struct quic_key {
	__u32 vip;	 /* vip_meta.index */
	__u32 server_id; /* 1..65535 from the CID (see quic.h) */
};

/*
 * vip_buckets value: the `vips` entries again, in a direct-mapped ARRAY the
 * verifier turns into address arithmetic (no hash call): bucket =
 * vip_bucket_of(key). `meta` sits where a vip_meta pointer can point at it.
 */
struct vip_bucket {
	struct vip_key key;
	struct vip_meta meta;
	__u32 state; /* VIP_BUCKET_* */
};

/* Connection-table key: the client -> VIP direction of a flow (8-aligned: compared as u64s). */
struct flow_key {
	union addr src;
	union addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
} __attribute__((aligned(8)));

/* Connection-table value. */
struct lru_val {
	__u32 real;  /* real index */
	__u32 atime; /* last seen: coarse time >> ATIME_SHIFT (~1 s units) */
};

/* Runtime settings the agent changes without reloading (one ARRAY entry). */
struct lb_settings {
	__u32 layout_version; /* LAYOUT_VERSION of whoever created the maps */
	__u8 gw_mac[6];	      /* destination MAC of every forwarded frame */
	__u16 mtu;	      /* L3 bytes toward reals incl. encap; 0 = never send too-big */
	__be16 gue_dport;     /* GUE destination port */
	__u8 src4_bits;	      /* low bits of the v4 outer source taken from the flow hash */
	__u8 src6_bits;	      /* same for v6 (taken in the last 32-bit word) */
	__be32 src4_prefix;   /* v4 outer source prefix */
	__be32 src6_prefix[4];
	__u32 udp_timeout; /* UDP LRU entry lifetime in atime units; 0 = never age */
};

/* Sizes fixed at load (rodata `limits`). */
struct lb_limits {
	__u32 max_vips;
	__u32 max_reals;
	__u32 ring_size;
	__u32 layout_version; /* LAYOUT_VERSION the object was built with */
};

/* Per-CPU counter slot. */
struct lb_stat {
	__u64 packets;
	__u64 bytes;
};

/* decap: key of a local tunnel endpoint address. */
struct decap_addr {
	union addr addr;
	__u8 family;
	__u8 pad[3];
};

/* decap: runtime settings (one ARRAY entry). */
struct decap_settings {
	__u32 layout_version;
	__be16 gue_dport; /* 0 = no GUE decap */
	__u16 pad;
};

#endif
