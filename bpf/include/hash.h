/* hash.h — the flow hash (murmur3-style 32-bit mix), mirrored by test/bpf/harness/hash.ts. */
#ifndef STERLET_HASH_H
#define STERLET_HASH_H

#include "consts.h"
#include "structs.h"

#define HASH_SEED 0x5354524cU /* "STRL" */

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51U;
	k = rotl32(k, 15);
	k *= 0x1b873593U;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64U;
}

static __always_inline __u32 hash_final(__u32 h, __u32 nwords)
{
	h ^= nwords * 4;
	h ^= h >> 16;
	h *= 0x85ebca6bU;
	h ^= h >> 13;
	h *= 0xc2b2ae35U;
	h ^= h >> 16;
	return h;
}

/*
 * Words are the raw 32-bit loads of the key (little-endian host order), so
 * TypeScript reproduces the hash from packet bytes. Modes:
 *   default      src, dst, ports, proto (v4: 4 words; v6: 10 words)
 *   VIP_F_HASH_SRC    source address only (v4: 1 word; v6: 4 words)
 *   VIP_F_HASH_DPORT  destination port only (1 word)
 * The source words come first, so the five-tuple hash continues from the
 * state the source-only hash finalises.
 */
static __always_inline __u32 hash_src(const struct flow_key *f)
{
	__u32 h = HASH_SEED;

	if (f->family == FAMILY_V4)
		return hash_mix(h, f->src.v4);
	h = hash_mix(h, f->src.v6[0]);
	h = hash_mix(h, f->src.v6[1]);
	h = hash_mix(h, f->src.v6[2]);
	return hash_mix(h, f->src.v6[3]);
}

/* The five-tuple hash, from the state hash_src() left. */
static __always_inline __u32 hash_rest(const struct flow_key *f, __u32 h)
{
	if (f->family == FAMILY_V4) {
		h = hash_mix(h, f->dst.v4);
		h = hash_mix(h, ((__u32)f->dport << 16) | f->sport);
		h = hash_mix(h, f->proto);
		return hash_final(h, 4);
	}
	h = hash_mix(h, f->dst.v6[0]);
	h = hash_mix(h, f->dst.v6[1]);
	h = hash_mix(h, f->dst.v6[2]);
	h = hash_mix(h, f->dst.v6[3]);
	h = hash_mix(h, ((__u32)f->dport << 16) | f->sport);
	h = hash_mix(h, f->proto);
	return hash_final(h, 10);
}

/* The ring hash of the VIP's mode: only a packet that misses the connection table needs it. */
static __always_inline __u32 flow_hash(const struct flow_key *f, __u32 vip_flags)
{
	if (vip_flags & VIP_F_HASH_DPORT)
		return hash_final(hash_mix(HASH_SEED, f->dport), 1);
	if (vip_flags & VIP_F_HASH_SRC)
		return hash_final(hash_src(f), f->family == FAMILY_V4 ? 1 : 4);
	return hash_rest(f, hash_src(f));
}

/*
 * Bucket of a vips key in vip_buckets, over the key's five raw little-endian
 * 32-bit words (mirrored by vipBucketOf() in src/agent/dataplane/vip-buckets.ts).
 * Spread only matters for speed: keys that share a bucket are looked up in vips.
 */
static __always_inline __u32 vip_bucket_of(const struct vip_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 x = w[0] ^ rotl32(w[1], 8) ^ rotl32(w[2], 16) ^ rotl32(w[3], 24);

	x = (x * 0x9e3779b1U) ^ w[4];
	x *= 0x85ebca6bU;
	return x >> (32 - VIP_BUCKET_BITS);
}

/*
 * The outer-header hash (outer source host bits, GUE source port, IPv6 flow
 * label), computed for every forwarded packet, so it must be cheap: the
 * five-tuple folded into one word (an IPv4 flow's upper address words are 0,
 * so one branch-free path serves both families; the destination is rotated so
 * equal source and destination words do not cancel), then two multiply/shift
 * rounds so every input bit reaches the low 16 and the high 16 bits. Per-flow
 * like the ring hash, whatever the VIP's hash mode, so backend RSS spreads
 * flows; mirrored by outerHash() in test/bpf/harness/hash.ts.
 */
static __always_inline __u32 outer_hash(const struct flow_key *f)
{
	__u32 s = f->src.v6[0] ^ f->src.v6[1] ^ f->src.v6[2] ^ f->src.v6[3];
	__u32 d = f->dst.v6[0] ^ f->dst.v6[1] ^ f->dst.v6[2] ^ f->dst.v6[3];
	__u32 x = s ^ rotl32(d, 16) ^ (((__u32)f->dport << 16) | f->sport) ^ ((__u32)f->proto << 8);

	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	return x ^ (x >> 16);
}

#endif
