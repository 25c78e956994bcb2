/* maps.h — every balancer map; names and sizes are part of the TypeScript contract. */
#ifndef STERLET_MAPS_H
#define STERLET_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "structs.h"

/* Sizes fixed per load: the loader writes this rodata (and resizes the maps to match). */
const volatile struct lb_limits limits = {
    .max_vips = MAX_VIPS,
    .max_reals = MAX_REALS,
    .ring_size = RING_SIZE,
    .layout_version = LAYOUT_VERSION,
};

/* (address, port, protocol) -> flags + index: the only per-VIP lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct vip_key);
	__type(value, struct vip_meta);
	__uint(max_entries, MAX_VIPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vips SEC(".maps");

/* real index -> address; index 0 stays empty (= no backend). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct real_def);
	__uint(max_entries, MAX_REALS);
} reals SEC(".maps");

/* Maglev rings, one per VIP: slot vip.index * ring_size + hash % ring_size -> real index. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MAX_VIPS *RING_SIZE);
} ring SEC(".maps");

/*
 * Connection table for CPUs without an inner map (counted as STAT_EV_LRU_FALLBACK).
 * Shared by several CPUs, so per-CPU LRU lists avoid one contended lock.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct lru_val);
	__uint(max_entries, FALLBACK_LRU_SIZE);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
} fallback_lru SEC(".maps");

/*
 * Template of the per-CPU connection tables user space creates (NUMA-local).
 * Each is written by one CPU only: a common LRU is uncontended there and keeps
 * the whole capacity usable (per-CPU lists would give that CPU 1/nr_cpus of it).
 */
struct lru_inner {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct lru_val);
	__uint(max_entries, LRU_SIZE);
};

/* CPU id -> that CPU's connection table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, MAX_CPUS);
	__array(values, struct lru_inner);
} conn_tables SEC(".maps");

/*
 * (VIP index, QUIC CID server id) -> real index. Per VIP, as the API's
 * uniqueness rule is: one VIP's id never routes to another VIP's backend.
 * Replaced layout 1's global `quic_servers` ARRAY (see src/agent/lifecycle.ts).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct quic_key);
	__type(value, __u32);
	__uint(max_entries, MAX_QUIC_REALS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} quic_reals SEC(".maps");

/*
 * The vips entries in 2^VIP_BUCKET_BITS direct-mapped buckets (agent-written,
 * src/agent/dataplane/vip-buckets.ts): a VIP lookup is one inlined array read
 * and a key compare; only a bucket several keys share sends it to `vips`.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct vip_bucket);
	__uint(max_entries, 1 << VIP_BUCKET_BITS);
} vip_buckets SEC(".maps");

/* Runtime settings, one entry; pinned so an upgraded program keeps them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_settings);
	__uint(max_entries, 1);
} settings SEC(".maps");

/* Counters: globals, then per VIP, then per real (see counters.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_stat);
	__uint(max_entries, STAT_GLOBAL_NR + MAX_VIPS + MAX_REALS);
} stats SEC(".maps");

#endif
