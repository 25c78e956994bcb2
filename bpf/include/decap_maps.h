/* decap_maps.h — maps of the backend decap program; part of the TypeScript contract. */
#ifndef STERLET_DECAP_MAPS_H
#define STERLET_DECAP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "structs.h"
#include "counters.h"

/* Local tunnel endpoint addresses: only tunnels to these are stripped. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct decap_addr);
	__type(value, __u32); /* DECAP_F_* */
	__uint(max_entries, MAX_DECAP_ADDRS);
} decap_addrs SEC(".maps");

/* Runtime settings, one entry (GUE port). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct decap_settings);
	__uint(max_entries, 1);
} decap_cfg SEC(".maps");

/* Counters, numbered DSTAT_* in counters.h. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_stat);
	__uint(max_entries, DSTAT_NR);
} decap_stats SEC(".maps");

#endif
