// The one compile step, shared by the controller (in a cluster) and the
// standalone agent: VirtualIPs + Backends -> desired state + problems.
// Pure and deterministic: the same objects in any order give the same state.
// A problem removes only what it concerns (a VIP, or one backend of a VIP);
// everything else is still compiled, so one bad object never blanks a node.
// Contract: whether a VIP holds its address/port/protocol claim depends only
// on that VIP (spec checks and pool admission), never on its Backends, so a
// caller may compile one conflict group (the VIPs sharing a key) plus one
// VIP's Backends and get the same outcome for that VIP as a full compile.
import { createHash } from 'node:crypto';
import type { Backend } from '../api/backend.ts';
import { BackendIndex } from './backend-index.ts';
import { type Announcement, DESIRED_STATE_VERSION, type DesiredBackend, type DesiredState, type DesiredVip } from '../api/desired-state.ts';
import { compareIp, formatIp, parseIp, type ParsedIp } from '../api/ip.ts';
import { DEFAULT_NAMESPACE, type Labels, type LabelSelector, type ObjectRef } from '../api/meta.ts';
import { type CompiledHealthCheck, resolveHealthCheck } from '../api/health-check.ts';
import { ADMIT_ALL, type Admission, admitVip, backendAllowed, type PreparedPool, preparePools } from './pools.ts';
import { type Problem, type ProblemCode, ProblemEffect, PROBLEM_REASONS } from '../api/problems.ts';
import { matchesSelector } from './selector.ts';
import type { VirtualIP } from '../api/virtual-ip.ts';


/** One backend a VIP's spec.backendRef resolved to (an endpoint address or a node address). */
export interface RefBackend {
  /** Pod (endpoint targetRef) or Node name, shown in status.compiled. */
  readonly name: string;
  readonly address: string;
  readonly weight: number;
}

/** What the caller found behind a backendRef: backends (maybe none, with why), or why the reference does not resolve. */
export type RefResolution =
  | { readonly backends: readonly RefBackend[]; readonly emptyBecause?: string }
  | { readonly notFound: string };

export interface CompileOptions {
  /** Pool enforcement. Default ADMIT_ALL (standalone); the controller passes `{ mode: 'Pools', ... }`. */
  readonly admission?: Admission;
  /** Keep only VIPs whose nodeSelector selects this node (an agent compiling for itself). */
  readonly node?: { readonly name: string; readonly labels: Labels };
  /**
   * Resolves spec.backendRef (the controller reads Services, EndpointSlices and Nodes).
   * Absent (standalone): a backendRef never resolves, since Services exist only in a cluster.
   */
  readonly resolveRef?: (vip: VirtualIP, family: ParsedIp['family']) => RefResolution;
  /** The fleet's health decision (controller): true marks the backend `unhealthy` in the compiled state. */
  readonly unhealthy?: (vipId: string, address: string) => boolean;
}

export interface CompileResult {
  readonly state: DesiredState;
  /** Sorted by VIP id, then code, then object. */
  readonly problems: readonly Problem[];
  /** Pool that admitted each VIP holding its claim, served or not (no Backends yet) (pool mode only): VIP id -> pool name. */
  readonly admittedBy: ReadonlyMap<string, string>;
}

/** Anything the loader produced; kinds other than VirtualIP and Backend are ignored. */
export type CompileInput = { readonly kind: string } & (VirtualIP | Backend | { readonly kind: string });

interface Aged {
  readonly metadata: { name: string; namespace?: string | undefined; creationTimestamp?: string | undefined };
}

/** Code-unit order: the same on every node whatever its locale. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function namespaceOf(o: Aged): string {
  return o.metadata.namespace ?? DEFAULT_NAMESPACE;
}

function createdAt(o: Aged): number {
  const t = o.metadata.creationTimestamp === undefined ? Number.NaN : Date.parse(o.metadata.creationTimestamp);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Older first (creationTimestamp), then namespace/name: decides every conflict. */
export function compareAge(a: Aged, b: Aged): number {
  const d = createdAt(a) - createdAt(b);
  if (d !== 0 && !Number.isNaN(d)) return d < 0 ? -1 : 1;
  return cmp(`${namespaceOf(a)}/${a.metadata.name}`, `${namespaceOf(b)}/${b.metadata.name}`);
}

/** The selector with its label map in key order, so equal selectors hash equally. */
function canonicalSelector(selector: LabelSelector): LabelSelector {
  const out: LabelSelector = {};
  if (selector.matchLabels !== undefined) {
    out.matchLabels = Object.fromEntries(Object.entries(selector.matchLabels).sort(([a], [b]) => cmp(a, b)));
  }
  if (selector.matchExpressions !== undefined) out.matchExpressions = selector.matchExpressions;
  return out;
}

/** Hash of what the dataplane programs; the body is built with a fixed key order, so JSON is canonical. */
function revisionOf(body: Omit<DesiredVip, 'revision' | 'generation' | 'id'>): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
}

function ref(kind: 'VirtualIP' | 'Backend', o: Aged): ObjectRef {
  return { kind, namespace: namespaceOf(o), name: o.metadata.name };
}

class Problems {
  readonly list: Problem[] = [];
  add(code: ProblemCode, virtualIP: string, object: ObjectRef, field: string, message: string): void {
    const effect =
      code === 'FAMILY_MISMATCH' ||
      code === 'DUPLICATE_BACKEND' ||
      code === 'DUPLICATE_QUIC_SERVER_ID' ||
      code === 'BACKEND_NOT_ALLOWED' ||
      code === 'HEALTH_CHECK_NO_PORT'
        ? ProblemEffect.BackendExcluded
        : ProblemEffect.VirtualIPExcluded;
    this.list.push({ code, reason: PROBLEM_REASONS[code], effect, object, field, virtualIP, message });
  }
}

interface VipContext {
  readonly vip: VirtualIP;
  readonly id: string;
  readonly ip: ParsedIp;
  readonly pool: PreparedPool | undefined;
  /** The VIP's resolved check (undefined: none). */
  readonly check: CompiledHealthCheck | undefined;
}

/** A backend's check fields for the compiled state: only what differs from the VIP's check. */
function backendCheck(ctx: VipContext, backend: Backend, problems: Problems): Pick<DesiredBackend, 'healthCheck' | 'unchecked'> | undefined {
  const override = backend.spec.healthCheck;
  if (override === undefined) return {};
  const own = resolveHealthCheck(ctx.vip.spec, ctx.vip.spec.healthCheck, override);
  if (typeof own === 'string') {
    problems.add('HEALTH_CHECK_NO_PORT', ctx.id, ref('Backend', backend), 'spec.healthCheck.port',
      `Backend ${backend.metadata.name} overrides the health check of VirtualIP ${ctx.id}, but ${own.replace('spec.healthCheck.port', 'the Backend spec.healthCheck.port')}; it is left out. Set spec.healthCheck.port on the Backend (or type: None).`);
    return undefined;
  }
  if (own === undefined) return { unchecked: true };
  return JSON.stringify(own) === JSON.stringify(ctx.check) ? {} : { healthCheck: own };
}

/** Selected, usable backends of one VIP, sorted by address; excluded ones are reported. */
function resolveBackends(ctx: VipContext, candidates: readonly Backend[], problems: Problems): DesiredBackend[] {
  const { vip, id } = ctx;
  const byAddress = new Map<string, { backend: Backend; ip: ParsedIp; address: string; check: Pick<DesiredBackend, 'healthCheck' | 'unchecked'> }>();
  const byQuicId = new Map<number, Backend>();
  for (const backend of candidates) {
    const beRef = ref('Backend', backend);
    const ip = parseIp(backend.spec.address);
    if (ip === undefined) continue; // unreachable after schema validation
    const address = formatIp(ip);
    if (ctx.ip.family === 'IPv6' && ip.family === 'IPv4') {
      problems.add('FAMILY_MISMATCH', id, beRef, 'spec.address',
        `Backend ${backend.metadata.name} (${address}) is IPv4 but VirtualIP ${id} is IPv6 (${formatIp(ctx.ip)}); IPv4 cannot carry IPv6 packets, so it is left out. Give it an IPv6 address or change the VIP's backendSelector so it does not select it.`);
      continue;
    }
    if (ctx.pool !== undefined && !backendAllowed(ctx.pool, ip)) {
      problems.add('BACKEND_NOT_ALLOWED', id, beRef, 'spec.address',
        `Backend ${backend.metadata.name} (${address}) is outside the backend ranges of VirtualIPPool ${ctx.pool.name} (${ctx.pool.source.spec.backendAddresses.join(', ')}) that admitted VirtualIP ${id}, so it is left out. Use an address inside those ranges or ask a cluster admin to extend the pool.`);
      continue;
    }
    const same = byAddress.get(address);
    if (same !== undefined) {
      problems.add('DUPLICATE_BACKEND', id, beRef, 'spec.address',
        `Backend ${backend.metadata.name} has address ${address}, already used by the older Backend ${same.backend.metadata.name} selected by VirtualIP ${id}; one address can have only one weight, so it is left out. Delete one of them or give it another address.`);
      continue;
    }
    const quicId = backend.spec.quicServerId;
    if (vip.spec.quic && quicId !== undefined) {
      const holder = byQuicId.get(quicId);
      if (holder !== undefined) {
        problems.add('DUPLICATE_QUIC_SERVER_ID', id, beRef, 'spec.quicServerId',
          `Backend ${backend.metadata.name} has quicServerId ${quicId}, already used by the older Backend ${holder.metadata.name} of QUIC VirtualIP ${id}; QUIC packets could not tell them apart, so it is left out. Give each backend of the VIP a unique quicServerId.`);
        continue;
      }
      byQuicId.set(quicId, backend);
    }
    const check = backendCheck(ctx, backend, problems);
    if (check === undefined) continue;
    byAddress.set(address, { backend, ip, address, check });
  }
  return [...byAddress.values()]
    .sort((a, b) => compareIp(a.ip, b.ip))
    .map(({ backend, ip, address, check }) => {
      const out: DesiredBackend = { address, family: ip.family, weight: backend.spec.weight, name: backend.metadata.name, ...check };
      // QUIC ids only matter (and are only checked unique) on QUIC VIPs.
      if (vip.spec.quic && backend.spec.quicServerId !== undefined) out.quicServerId = backend.spec.quicServerId;
      return out;
    });
}

/** A resolved backendRef entry in the shape resolveBackends checks (family, pool range, duplicates). */
function refBackend(namespace: string, b: RefBackend): Backend {
  return { apiVersion: 'sterlet.dev/v1alpha1', kind: 'Backend', metadata: { name: b.name, namespace }, spec: { address: b.address, weight: b.weight } };
}

export function compile(objects: readonly CompileInput[], options: CompileOptions = {}): CompileResult {
  const admission = options.admission ?? ADMIT_ALL;
  const pools = admission.mode === 'Pools' ? preparePools(admission.pools) : [];
  const problems = new Problems();
  const vips = objects.filter((o): o is VirtualIP => o.kind === 'VirtualIP').sort(compareAge);
  const backends = objects.filter((o): o is Backend => o.kind === 'Backend').sort(compareAge);
  const index = new BackendIndex(backends, namespaceOf);
  const claims = new Map<string, string>();
  const seen = new Set<string>();
  const admittedBy = new Map<string, string>();
  const out: DesiredVip[] = [];

  for (const vip of vips) {
    const namespace = namespaceOf(vip);
    const id = `${namespace}/${vip.metadata.name}`;
    if (seen.has(id)) continue; // the loader reports duplicate objects; the older copy wins
    seen.add(id);
    const vipRef = ref('VirtualIP', vip);
    const ip = parseIp(vip.spec.address);
    if (ip === undefined) continue; // unreachable after schema validation
    const address = formatIp(ip);
    const { port, protocol } = vip.spec;

    if (vip.spec.quic && protocol !== 'UDP') {
      problems.add('QUIC_REQUIRES_UDP', id, vipRef, 'spec.quic',
        `VirtualIP ${id} sets quic: true with protocol ${protocol}; QUIC runs over UDP. Set protocol: UDP or quic: false.`);
      continue;
    }
    let pool: PreparedPool | undefined;
    if (admission.mode === 'Pools') {
      const admitted = admitVip({ namespace, ip, address, port, protocol }, pools, admission);
      if ('denied' in admitted) {
        problems.add('ADDRESS_NOT_ALLOWED', id, vipRef, 'spec.address',
          `VirtualIP ${id} claims ${address} ${protocol}/${port} but ${admitted.denied}.`);
        continue;
      }
      pool = admitted.pool;
    }
    // Only VIPs that could be served hold a claim, so an inadmissible VIP cannot squat on an address.
    const claimKey = `${address}|${port}|${protocol}`;
    const winner = claims.get(claimKey);
    if (winner !== undefined) {
      problems.add('DUPLICATE_VIP', id, vipRef, 'spec.address',
        `VirtualIP ${id} claims ${address} ${protocol}/${port}, already claimed by the older VirtualIP ${winner}, which keeps it. Choose another address, port or protocol, or delete one of them.`);
      continue;
    }
    claims.set(claimKey, id);
    // Recorded before backends resolve: a VIP scaled to zero is still admitted (and holds its claim).
    if (pool !== undefined) admittedBy.set(id, pool.name);

    const backendRef = vip.spec.backendRef;
    let selected: Backend[];
    let emptyBecause: string;
    if (backendRef !== undefined) {
      const found = options.resolveRef?.(vip, ip.family)
        ?? { notFound: 'Services exist only in a cluster, so the standalone agent cannot resolve a backendRef. Use backendSelector with Backend objects.' };
      if ('notFound' in found) {
        problems.add('BACKEND_REF_NOT_FOUND', id, vipRef, 'spec.backendRef',
          `VirtualIP ${id} is not served: spec.backendRef names Service ${namespace}/${backendRef.name}, but ${found.notFound}`);
        continue; // the claim stays, as with no backends
      }
      selected = found.backends.map((b) => refBackend(namespace, b));
      emptyBecause = found.emptyBecause ?? `Service ${namespace}/${backendRef.name} has no ready endpoints.`;
    } else {
      selected = index.select(namespace, vip.spec.backendSelector ?? {});
      emptyBecause = `its backendSelector matches no Backend in namespace ${namespace}. Create Backends with matching labels or fix spec.backendSelector.`;
    }
    // The schema rejects a port-less VIP whose check has no port, so this is never a string here.
    const resolvedCheck = resolveHealthCheck(vip.spec, vip.spec.healthCheck);
    const check = typeof resolvedCheck === 'string' ? undefined : resolvedCheck;
    const resolved = resolveBackends({ vip, id, ip, pool, check }, selected, problems).map((b) =>
      options.unhealthy?.(id, b.address) === true ? { ...b, unhealthy: true } : b,
    );
    if (resolved.length === 0) {
      const why = selected.length === 0
        ? emptyBecause
        : `all ${selected.length} selected backends were left out (see their problems). Fix those backends.`;
      problems.add('NO_BACKENDS', id, vipRef, backendRef === undefined ? 'spec.backendSelector' : 'spec.backendRef', `VirtualIP ${id} is not served: ${why}`);
      continue; // it still holds its address claim: scaling to zero does not hand the address to someone else
    }
    if (options.node !== undefined && !matchesSelector(vip.spec.nodeSelector, options.node.labels)) continue;

    const body = {
      key: { address, family: ip.family, port, protocol },
      flags: {
        hash: vip.spec.hash,
        connectionTracking: vip.spec.connectionTracking,
        quic: vip.spec.quic,
        encapsulation: vip.spec.encapsulation,
      },
      backends: resolved,
      ...(vip.spec.nodeSelector === undefined ? {} : { nodeSelector: canonicalSelector(vip.spec.nodeSelector) }),
      ...announcementOf(vip.spec.announcement, pool?.source.spec.announcement),
      ...(check === undefined ? {} : { healthCheck: check }),
    };
    out.push({ id, generation: vip.metadata.generation ?? 1, revision: revisionOf(body), ...body });
  }

  out.sort((a, b) => cmp(a.id, b.id));
  const sorted = [...problems.list].sort(
    (a, b) =>
      cmp(a.virtualIP, b.virtualIP) ||
      cmp(a.code, b.code) ||
      cmp(`${a.object.namespace}/${a.object.name}`, `${b.object.namespace}/${b.object.name}`),
  );
  return { state: { version: DESIRED_STATE_VERSION, vips: out }, problems: sorted, admittedBy };
}

/** The route attributes: the VIP's own, each field falling back to the admitting pool's. */
function announcementOf(own: Announcement | undefined, pool: Announcement | undefined): { announcement?: Announcement } {
  // Without pool settings the VIP's compiles as given (unchanged revisions for existing VIPs).
  if (pool === undefined) return own === undefined ? {} : { announcement: own };
  const communities = own?.communities ?? pool?.communities;
  const localPreference = own?.localPreference ?? pool?.localPreference;
  if (communities === undefined && localPreference === undefined) return {};
  return { announcement: { ...(communities === undefined ? {} : { communities }), ...(localPreference === undefined ? {} : { localPreference }) } };
}

/** The VIPs of a published (unfiltered) state that a node with these labels serves. */
export function stateForNode(state: DesiredState, labels: Labels): DesiredState {
  return { version: state.version, vips: state.vips.filter((v) => matchesSelector(v.nodeSelector, labels)) };
}
