// An nftables rule set shaped like kube-proxy's nftables mode for one
// LoadBalancer Service (externalTrafficPolicy: Cluster, the default): the
// service-ips verdict map keyed by address . protocol . port, an external
// chain marking for masquerade, a service chain choosing an endpoint with
// `numgen random mod N`, one endpoint chain per endpoint doing the DNAT, and
// the masquerading postrouting chain. Table, chain and map names follow
// kube-proxy's; the chain hashes are fixed strings (kube-proxy derives them
// from the service name), which changes no rule the packets traverse.

export interface KubeService {
  /** Table name (unique per benchmark run so parallel runs never collide). */
  readonly table: string;
  /** namespace/name, for the chain names and comments. */
  readonly name: string;
  /** The LoadBalancer IP (the VIP). */
  readonly address: string;
  readonly port: number;
  readonly endpoints: readonly { readonly address: string; readonly port: number }[];
  /** Cluster CIDR: traffic from outside it is marked for masquerade. */
  readonly clusterCidr: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const CIDR4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/([0-9]|[12]\d|3[0-2])$/;
const MASQ_MARK = '0x4000';

function check(service: KubeService): void {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(service.table)) throw new Error(`table: ${JSON.stringify(service.table)} is not a short lowercase nft name (a-z, 0-9, -)`);
  if (!/^[a-z0-9-]+\/[a-z0-9-]+$/.test(service.name)) throw new Error(`name: ${JSON.stringify(service.name)} must be namespace/name`);
  if (!IPV4.test(service.address)) throw new Error(`address: ${JSON.stringify(service.address)} is not an IPv4 address`);
  if (!CIDR4.test(service.clusterCidr)) throw new Error(`clusterCidr: ${JSON.stringify(service.clusterCidr)} is not an IPv4 CIDR`);
  const ports = [service.port, ...service.endpoints.map((e) => e.port)];
  if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new Error('port: service and endpoint ports must be integers in 1..65535');
  if (service.endpoints.length === 0) throw new Error('endpoints: at least one endpoint is needed (kube-proxy rejects traffic to a Service without endpoints)');
  for (const e of service.endpoints) if (!IPV4.test(e.address)) throw new Error(`endpoints: ${JSON.stringify(e.address)} is not an IPv4 address`);
}

/** The rule set as `nft -f` input; delete it with `nft delete table ip <table>`. */
export function kubeProxyRuleset(service: KubeService): string {
  check(service);
  const svc = `${service.name}/tcp/p${String(service.port)}`;
  const serviceChain = `service-ULMVA6XW-${svc}`;
  const externalChain = `external-ULMVA6XW-${svc}`;
  const endpointChain = (e: { address: string; port: number }, i: number): string =>
    `endpoint-${String(i).padStart(8, 'X')}-${svc}__${e.address}/${String(e.port)}`;
  const lines = [
    `table ip ${service.table} {`,
    `  comment "rules for kube-proxy"`,
    `  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
    `  map firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
    `  chain filter-prerouting { type filter hook prerouting priority dstnat - 10 ; policy accept ; ct state new jump firewall-check ; }`,
    `  chain filter-forward { type filter hook forward priority -110 ; policy accept ; ct state new jump service-endpoints-check ; }`,
    `  chain firewall-check { ip daddr . meta l4proto . th dport vmap @firewall-ips ; }`,
    `  chain service-endpoints-check { ip daddr . meta l4proto . th dport vmap @no-endpoint-services ; }`,
    `  chain mark-for-masquerade { meta mark set meta mark or ${MASQ_MARK} ; }`,
    `  chain masquerading { meta mark & ${MASQ_MARK} == 0 return ; meta mark set meta mark xor ${MASQ_MARK} ; masquerade fully-random ; }`,
    `  chain nat-prerouting { type nat hook prerouting priority dstnat ; policy accept ; jump services ; }`,
    `  chain nat-postrouting { type nat hook postrouting priority srcnat ; policy accept ; jump masquerading ; }`,
    `  chain services { ip daddr . meta l4proto . th dport vmap @service-ips ; }`,
    `  chain ${externalChain} { jump mark-for-masquerade ; goto ${serviceChain} ; }`,
    `  chain ${serviceChain} {`,
    `    ip daddr ${service.address} tcp dport ${String(service.port)} ip saddr != ${service.clusterCidr} jump mark-for-masquerade`,
    `    numgen random mod ${String(service.endpoints.length)} vmap { ${service.endpoints.map((e, i) => `${String(i)} : goto ${endpointChain(e, i)}`).join(' , ')} }`,
    `  }`,
    ...service.endpoints.map(
      (e, i) => `  chain ${endpointChain(e, i)} { ip saddr ${e.address} jump mark-for-masquerade ; meta l4proto tcp dnat to ${e.address}:${String(e.port)} ; }`,
    ),
    `}`,
    `add element ip ${service.table} service-ips { ${service.address} . tcp . ${String(service.port)} : goto ${externalChain} }`,
    '',
  ];
  return lines.join('\n');
}
