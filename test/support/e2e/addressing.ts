// The e2e address plan. Everything lives only inside the namespaces a run
// creates (they have no link to the host), so fixed addresses are safe and
// make logs readable:
//
//   client 10.111.0.2 ── 10.111.0.1 router 10.111.1.1 ── 10.111.1.2 lb (XDP balancer)
//                                    └ br0 10.0.1.1 ── backend-N 10.0.1.(10+N)
//
// The VIP is routed by the router to the lb leg; backends hold it on lo.
// IPv6 mirrors it: 10.111.X.Y is fd00:111:X::Y, the backend bridge
// fd00:111:2::/64 (backend-N fd00:111:2::(10+N)), the VIP fd00:200::10.

export const CLIENT_ADDRESS = '10.111.0.2';
export const ROUTER_CLIENT_ADDRESS = '10.111.0.1';
export const LB_ADDRESS = '10.111.1.2';
export const ROUTER_LB_ADDRESS = '10.111.1.1';
export const ROUTER_BACKEND_ADDRESS = '10.0.1.1';
export const PREFIX_LENGTH = 24;
export const CLIENT_SUBNET = '10.111.0.0/24';

export const CLIENT_ADDRESS6 = 'fd00:111:0::2';
export const ROUTER_CLIENT_ADDRESS6 = 'fd00:111:0::1';
export const LB_ADDRESS6 = 'fd00:111:1::2';
export const ROUTER_LB_ADDRESS6 = 'fd00:111:1::1';
export const ROUTER_BACKEND_ADDRESS6 = 'fd00:111:2::1';
export const PREFIX_LENGTH6 = 64;

export const VIP_V4 = '10.200.0.10';
export const VIP_V6 = 'fd00:200::10';
export const VIP_PORT = 80;

/** Backend N (1-based) gets 10.0.1.(10+N), as in examples/basic.yaml: backend-1 is 10.0.1.11. */
export function backendAddress(index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > 200) {
    throw new RangeError(`backend index must be 1-200, got ${String(index)}`);
  }
  return `10.0.1.${String(10 + index)}`;
}

/** Backend N's IPv6 address: fd00:111:2::(10+N), e.g. fd00:111:2::11. */
export function backendAddress6(index: number): string {
  backendAddress(index);
  return `fd00:111:2::${String(10 + index)}`;
}

export function backendName(index: number): string {
  return `backend-${String(index)}`;
}

/**
 * CPU every process that sends flow packets (client runner, HTTP servers) is
 * pinned to. A NIC's RSS sends every packet of a flow to one queue and CPU, so
 * the balancer's per-CPU connection tables see a flow on one CPU only. Veths
 * have no RSS: a packet is processed on whichever CPU sent it, and a flow
 * whose packets wander between CPUs would consult two tables (one of them
 * possibly stale from an earlier flow with the same 5-tuple). Pinning the
 * senders restores "one flow, one CPU" as real hardware provides it.
 */
export const TRAFFIC_CPUS = '0';
