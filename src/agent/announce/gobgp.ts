// The one door to the BGP speaker: GoBGP's gRPC API (v3, package apipb),
// through @grpc/grpc-js with the .proto files of the pinned GoBGP module
// (scripts/gobgp.sh copies them into the cache; never committed). The rest of
// the agent speaks in the domain types below and never sees protobuf.
//
// gobgpd is a separate process (the DaemonSet's sidecar): the routes it holds
// outlive the agent, so a kill -9 of the agent withdraws nothing.

import { join } from 'node:path';
import { homedir } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SterletError } from '../../common/errors.ts';

/** The GoBGP release whose API this adapter speaks (scripts/gobgp.sh builds it). */
export const GOBGP_VERSION = 'v3.37.0';

/** Where scripts/gobgp.sh puts the .proto files of the pinned module. */
export function defaultProtoDir(): string {
  return join(process.env['STERLET_CACHE'] ?? join(homedir(), '.cache', 'sterlet'), 'gobgp', GOBGP_VERSION, 'proto');
}

export type RouteFamily = 'IPv4' | 'IPv6';
export type SessionState = 'Unknown' | 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface SpeakerGlobal {
  readonly asn: number;
  readonly routerId: string;
  /** -1 = do not listen (connect out only). */
  readonly listenPort: number;
}

export interface SpeakerPeer {
  readonly address: string;
  readonly peerAsn: number;
  readonly localAsn: number;
  readonly holdTimeSeconds: number;
  readonly families: readonly RouteFamily[];
  readonly password?: string | undefined;
  /** TCP port of the peer (default 179). */
  readonly port?: number | undefined;
}

export interface PeerStatus {
  readonly address: string;
  readonly peerAsn: number;
  readonly state: SessionState;
}

/** A locally originated route: a VIP prefix with our attributes. */
export interface Route {
  /** CIDR, e.g. 10.200.0.10/32. */
  readonly prefix: string;
  readonly family: RouteFamily;
  readonly communities: readonly number[];
  readonly localPreference?: number | undefined;
}

export interface Speaker {
  /** The running global config, or undefined when BGP is not started (a fresh or restarted gobgpd). */
  global(): Promise<SpeakerGlobal | undefined>;
  start(global: SpeakerGlobal): Promise<void>;
  peers(): Promise<PeerStatus[]>;
  addPeer(peer: SpeakerPeer): Promise<void>;
  deletePeer(address: string): Promise<void>;
  /** Routes this speaker originates (not the ones learned from peers). */
  routes(): Promise<Route[]>;
  announce(route: Route): Promise<void>;
  withdraw(route: Route): Promise<void>;
  close(): void;
}

type Callback = (error: grpc.ServiceError | null, response: unknown) => void;
type Client = grpc.Client & Record<string, (request: object, ...rest: unknown[]) => unknown>;

const ANY = 'type.googleapis.com/apipb.';
const FAMILY = {
  IPv4: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
  IPv6: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
} as const;
const STATES: Readonly<Record<string, SessionState>> = {
  IDLE: 'Idle',
  CONNECT: 'Connect',
  ACTIVE: 'Active',
  OPENSENT: 'OpenSent',
  OPENCONFIRM: 'OpenConfirm',
  ESTABLISHED: 'Established',
};

export interface GoBgpOptions {
  /** gobgpd's --api-hosts, e.g. 127.0.0.1:50051. */
  readonly address: string;
  readonly protoDir?: string;
  /** Deadline of each call. Default 5 s. */
  readonly timeoutMs?: number;
}

/** Connects lazily: gobgpd may start after the agent; calls fail until it listens. */
export function goBgpSpeaker(options: GoBgpOptions): Speaker {
  const protoDir = options.protoDir ?? defaultProtoDir();
  let definition: protoLoader.PackageDefinition;
  try {
    // json: google.protobuf.Any fields are (de)serialized from/to {"@type": ..., fields}.
    definition = protoLoader.loadSync(['gobgp.proto', 'attribute.proto'], {
      includeDirs: [protoDir],
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      json: true,
    });
  } catch (cause) {
    throw new SterletError('BGP_PROTO_MISSING', `cannot load the GoBGP ${GOBGP_VERSION} API definitions from ${protoDir}`, {
      why: 'the .proto files come from the pinned GoBGP module at build time and are not in the repository',
      fix: 'run scripts/gobgp.sh (make gobgp), or pass --bgp-proto-dir naming a directory with gobgp.proto and attribute.proto',
      cause,
    });
  }
  const apipb = (grpc.loadPackageDefinition(definition) as unknown as { apipb: { GobgpApi: grpc.ServiceClientConstructor } }).apipb;
  const client = new apipb.GobgpApi(options.address, grpc.credentials.createInsecure()) as unknown as Client;
  const timeoutMs = options.timeoutMs ?? 5000;

  const unary = (method: string, request: object): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const cb: Callback = (error, response) => (error ? reject(speakerError(method, options.address, error)) : resolve(response));
      client[method]!(request, { deadline: Date.now() + timeoutMs }, cb);
    });
  const stream = (method: string, request: object): Promise<unknown[]> =>
    new Promise((resolve, reject) => {
      const out: unknown[] = [];
      const call = client[method]!(request, { deadline: Date.now() + timeoutMs }) as grpc.ClientReadableStream<unknown>;
      call.on('data', (d: unknown) => out.push(d));
      call.on('end', () => resolve(out));
      call.on('error', (error: grpc.ServiceError) => reject(speakerError(method, options.address, error)));
    });

  return {
    async global() {
      const g = ((await unary('GetBgp', {})) as { global?: { asn: number; router_id: string; listen_port: number } }).global;
      return g === undefined || g.asn === 0 ? undefined : { asn: g.asn, routerId: g.router_id, listenPort: g.listen_port };
    },
    async start(g) {
      await unary('StartBgp', { global: { asn: g.asn, router_id: g.routerId, listen_port: g.listenPort } });
    },
    async peers() {
      const rows = (await stream('ListPeer', {})) as { peer: { conf: { neighbor_address: string; peer_asn: number }; state?: { session_state: string } } }[];
      return rows.map(({ peer }) => ({
        address: peer.conf.neighbor_address,
        peerAsn: peer.conf.peer_asn,
        state: STATES[peer.state?.session_state ?? ''] ?? 'Unknown',
      }));
    },
    async addPeer(p) {
      await unary('AddPeer', {
        peer: {
          conf: { neighbor_address: p.address, peer_asn: p.peerAsn, local_asn: p.localAsn, auth_password: p.password ?? '' },
          // Keepalive a third of the hold time, as RFC 4271 suggests.
          timers: { config: { hold_time: p.holdTimeSeconds, keepalive_interval: Math.max(1, Math.floor(p.holdTimeSeconds / 3)), connect_retry: 5 } },
          transport: p.port === undefined ? {} : { remote_port: p.port },
          afi_safis: p.families.map((f) => ({ config: { family: FAMILY[f], enabled: true } })),
        },
      });
    },
    async deletePeer(address) {
      await unary('DeletePeer', { address });
    },
    async routes() {
      const out: Route[] = [];
      for (const family of ['IPv4', 'IPv6'] as const) {
        const rows = (await stream('ListPath', { table_type: 'GLOBAL', family: FAMILY[family] })) as { destination: { prefix: string; paths: ApiPath[] } }[];
        for (const { destination } of rows) {
          const own = destination.paths.find((p) => p.neighbor_ip === '<nil>' || p.neighbor_ip === '');
          if (own !== undefined) out.push(decodeRoute(destination.prefix, family, own));
        }
      }
      return out;
    },
    async announce(route) {
      await unary('AddPath', { table_type: 'GLOBAL', path: encodePath(route) });
    },
    async withdraw(route) {
      await unary('DeletePath', { table_type: 'GLOBAL', family: FAMILY[route.family], path: encodePath(route) });
    },
    close() {
      client.close();
    },
  };
}

interface ApiPath {
  readonly neighbor_ip: string;
  readonly pattrs: readonly { '@type': string; communities?: number[]; local_pref?: number }[];
}

function decodeRoute(prefix: string, family: RouteFamily, path: ApiPath): Route {
  const communities = path.pattrs.find((a) => a['@type'] === `${ANY}CommunitiesAttribute`)?.communities ?? [];
  const localPreference = path.pattrs.find((a) => a['@type'] === `${ANY}LocalPrefAttribute`)?.local_pref;
  return { prefix, family, communities, ...(localPreference === undefined ? {} : { localPreference }) };
}

function encodePath(route: Route): object {
  const slash = route.prefix.lastIndexOf('/');
  const nlri = { '@type': `${ANY}IPAddressPrefix`, prefix: route.prefix.slice(0, slash), prefix_len: Number(route.prefix.slice(slash + 1)) };
  // Next hop "self": gobgpd puts the session's local address on the wire.
  const nextHop =
    route.family === 'IPv4'
      ? { '@type': `${ANY}NextHopAttribute`, next_hop: '0.0.0.0' }
      : { '@type': `${ANY}MpReachNLRIAttribute`, family: FAMILY.IPv6, next_hops: ['::'], nlris: [nlri] };
  const pattrs: object[] = [{ '@type': `${ANY}OriginAttribute`, origin: 0 }, nextHop];
  if (route.communities.length > 0) pattrs.push({ '@type': `${ANY}CommunitiesAttribute`, communities: [...route.communities] });
  if (route.localPreference !== undefined) pattrs.push({ '@type': `${ANY}LocalPrefAttribute`, local_pref: route.localPreference });
  return { family: FAMILY[route.family], nlri, pattrs };
}

function speakerError(method: string, address: string, error: grpc.ServiceError): SterletError {
  return new SterletError('BGP_SPEAKER_CALL_FAILED', `BGP speaker ${address}: ${method} failed (${grpc.status[error.code] ?? error.code}: ${error.details})`, {
    why: error.code === grpc.status.UNAVAILABLE ? 'gobgpd is not listening there (not started yet, restarting, or another --api-hosts)' : 'gobgpd refused the request',
    fix: 'check the speaker sidecar (gobgpd --api-hosts) and --bgp-speaker',
    cause: error,
  });
}
