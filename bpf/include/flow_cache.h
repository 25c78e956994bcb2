/* flow_cache.h — a per-CPU exact-match cache in front of the connection table. */
#ifndef STERLET_FLOW_CACHE_H
#define STERLET_FLOW_CACHE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "structs.h"

/*
 * A connection-table lookup is a call into the kernel's hash table (jhash of
 * the key, a bucket walk, a memcmp call): the most expensive step of an
 * established flow's packet. The flow cache answers repeated packets of a flow
 * without it: a direct-mapped PERCPU_ARRAY (the verifier inlines its lookup),
 * slot = outer hash of the flow, holding the flow's key, real and the atime
 * the table entry was given when the slot was written.
 *
 * A slot is only trusted within the atime unit it was written in (~1 s): the
 * first packet of a flow in each new unit takes the table path, which keeps
 * the entry's last-seen time (UDP expiry, the agent's flow ages) and the LRU's
 * reference bit as they would be without the cache. Only a table hit fills a
 * slot (lru_commit, once the packet is forwarded); a packet of the flow that
 * cannot use its slot (a SYN, a stale slot, a real gone) drops it before the
 * table path runs, so whatever that path writes (a re-pick, an insert) is
 * what the next packet sees. A slot therefore never disagrees with the table
 * except after an eviction, where it keeps the flow on the real its evicted
 * entry named for the rest of the unit. Only CPUs with their own table use it
 * (the fallback table is shared by CPUs). User space that changes a table
 * under a running program (swaps one in, writes or deletes entries) bumps
 * flow_cache_epoch, which drops every slot at once.
 *
 * 512 slots (32 KiB per CPU, one chunk) stay in the CPU's caches: with 4096
 * the probe of a new flow missed them, and new flows got 4-11% slower.
 * 0 builds the balancer without the cache (bench comparisons).
 */
#ifndef FLOW_CACHE_SLOTS
#define FLOW_CACHE_SLOTS 512 /* per CPU, 0 or a power-of-two multiple of the chunk; 64 B each */
#endif
#define FLOW_CACHE_CHUNK_SLOTS 512 /* 32 KiB: the largest value a per-CPU map holds */
#define FLOW_CACHE_CHUNKS      (FLOW_CACHE_SLOTS ? FLOW_CACHE_SLOTS / FLOW_CACHE_CHUNK_SLOTS : 1)

struct flow_cache_slot {
	struct flow_key key;
	__u32 real;  /* real index; 0 = slot unused or dropped */
	__u32 atime; /* atime unit the slot was written in */
	__u32 epoch; /* flow_cache_epoch when it was written */
	__u32 pad[3];
};

/*
 * Slots in 32 KiB chunks, not one per entry: a PERCPU_ARRAY lookup reads the
 * entry's per-CPU pointer first, and 8 chunk pointers share one cache line
 * where 4096 slot pointers would each be a miss of their own on a new flow.
 */
struct flow_cache_chunk {
	struct flow_cache_slot slot[FLOW_CACHE_CHUNK_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct flow_cache_chunk);
	__uint(max_entries, FLOW_CACHE_CHUNKS);
} flow_cache SEC(".maps");

/* Written by user space only (Balancer.invalidateFlowCache); its own section so nothing else shares the write. */
__u32 flow_cache_epoch SEC(".data.flow_cache") = 0;

/* This CPU's slot for a flow of outer hash `hash`; NULL without a cache. */
static __always_inline struct flow_cache_slot *flow_cache_slot(__u32 hash)
{
	__u32 chunk = (hash / FLOW_CACHE_CHUNK_SLOTS) % FLOW_CACHE_CHUNKS;
	struct flow_cache_chunk *c;

	if (!FLOW_CACHE_SLOTS)
		return NULL;
	c = bpf_map_lookup_elem(&flow_cache, &chunk);
	return c ? &c->slot[hash % FLOW_CACHE_CHUNK_SLOTS] : NULL;
}

/* Was the slot written in this atime unit and epoch? */
static __always_inline int flow_cache_fresh(const struct flow_cache_slot *s, __u32 now)
{
	return s->atime == now && s->epoch == flow_cache_epoch;
}

/* Does the slot hold this flow? Five 8-byte compares, folded into one branch. */
static __always_inline int flow_cache_holds(const struct flow_cache_slot *s,
					    const struct flow_key *f)
{
	const __u64 *a = (const __u64 *)&s->key, *b = (const __u64 *)f;

	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) ==
	       0;
}

static __always_inline void flow_cache_fill(struct flow_cache_slot *s, const struct flow_key *f,
					    __u32 real, __u32 atime)
{
	/*
	 * The real goes last, after a 0: a packet that preempts this write on the
	 * same CPU (PREEMPT_RT runs XDP in a preemptible thread) finds no real,
	 * never the new key with the previous flow's real.
	 */
	s->real = 0;
	asm volatile("" ::: "memory");
	__builtin_memcpy(&s->key, f, sizeof(*f));
	s->atime = atime;
	s->epoch = flow_cache_epoch;
	asm volatile("" ::: "memory");
	s->real = real;
}

#endif
