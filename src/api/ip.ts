// IP address and CIDR parsing shared by the schemas, the compile step and
// pool admission. The accepted syntax mirrors the Kubernetes CEL `isIP()` /
// `isCIDR()` functions the CRDs use, so a manifest that kubectl accepts is
// accepted standalone too: no IPv4 octets with leading zeros, no zones, no
// IPv4-mapped IPv6 (::ffff:a.b.c.d).

export type IpFamily = 'IPv4' | 'IPv6';

export interface ParsedIp {
  readonly family: IpFamily;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

export interface ParsedCidr {
  readonly family: IpFamily;
  /** The network address (host bits cleared). */
  readonly bytes: Uint8Array;
  readonly prefixLength: number;
}

const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

// One pass over the characters: a manifest set of 51,200 backends parses
// each address several times (schema, pool checks, compile).
function parseV4(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a final '.'
    if (c === 46) {
      if (digits === 0 || octet > 3) return undefined;
      out[octet++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return octet === 4 ? out : undefined;
}

function parseGroups(text: string): number[] | undefined {
  if (text === '') return [];
  const groups: number[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    // An embedded dotted IPv4 tail counts as two groups.
    if (i === parts.length - 1 && part.includes('.')) {
      const v4 = parseV4(part);
      if (!v4) return undefined;
      groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      continue;
    }
    if (!V6_GROUP.test(part)) return undefined;
    groups.push(Number.parseInt(part, 16));
  }
  return groups;
}

function parseV6(text: string): Uint8Array | undefined {
  if (text.includes('%')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0] ?? '');
    const tail = parseGroups(halves[1] ?? '');
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  // IPv4-mapped IPv6 is rejected like Kubernetes' isIP() does: write the IPv4 address.
  const mapped = out.subarray(0, 10).every((b) => b === 0) && out[10] === 0xff && out[11] === 0xff;
  return mapped ? undefined : out;
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function parseIp(text: string): ParsedIp | undefined {
  if (text.includes(':')) {
    const bytes = parseV6(text);
    return bytes ? { family: 'IPv6', bytes } : undefined;
  }
  const bytes = parseV4(text);
  return bytes ? { family: 'IPv4', bytes } : undefined;
}

export function isIp(text: string): boolean {
  return parseIp(text) !== undefined;
}

/** Formats bytes canonically (RFC 5952 for IPv6: lower case, longest zero run compressed). */
export function formatIp(ip: ParsedIp): string {
  const b = ip.bytes;
  if (ip.family === 'IPv4') return `${String(b[0])}.${String(b[1])}.${String(b[2])}.${String(b[3])}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Canonical text of an address, or undefined when it is not an IP address. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

/** Parses `address/prefix`; host bits may be set and are cleared (like CEL `cidr().masked()`). */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefixLength = Number(prefixText);
  if (prefixLength > ip.bytes.length * 8) return undefined;
  const bytes = ip.bytes.slice();
  for (let bit = prefixLength; bit < bytes.length * 8; bit++) {
    const index = bit >> 3;
    bytes[index] = (bytes[index] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return { family: ip.family, bytes, prefixLength };
}

export function isCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}

export function formatCidr(cidr: ParsedCidr): string {
  return `${formatIp(cidr)}/${cidr.prefixLength}`;
}

/** True when the address lies inside the range (same family only). */
export function cidrContains(cidr: ParsedCidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  const full = cidr.prefixLength >> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== ip.bytes[i]) return false;
  const rest = cidr.prefixLength & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((cidr.bytes[full] ?? 0) & mask) === ((ip.bytes[full] ?? 0) & mask);
}

/** True when every address of `inner` lies inside `outer`. */
export function cidrWithin(inner: ParsedCidr, outer: ParsedCidr): boolean {
  return inner.prefixLength >= outer.prefixLength && cidrContains(outer, inner);
}

/** Total order on addresses: IPv4 before IPv6, then numerically. */
export function compareIp(a: ParsedIp, b: ParsedIp): number {
  if (a.bytes.length !== b.bytes.length) return a.bytes.length - b.bytes.length;
  for (let i = 0; i < a.bytes.length; i++) {
    const d = (a.bytes[i] ?? 0) - (b.bytes[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * True for addresses that can be a VIP or a backend, with the semantics of
 * Go's netip IsGlobalUnicast (which the CRDs' CEL `ip().isGlobalUnicast()`
 * uses): not unspecified, loopback, multicast, link-local or IPv4 broadcast.
 * Private ranges (10/8, fc00::/7) and documentation ranges count as unicast.
 */
export function isGlobalUnicast(ip: ParsedIp): boolean {
  const b = ip.bytes;
  if (ip.family === 'IPv4') {
    const [a = 0, c = 0] = b;
    if (b.every((x) => x === 0) || b.every((x) => x === 255)) return false;
    return a !== 127 && (a & 0xf0) !== 0xe0 && !(a === 169 && c === 254);
  }
  if (b.every((x) => x === 0)) return false; // ::
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return false; // ::1
  const [a = 0, c = 0] = b;
  return a !== 0xff && !(a === 0xfe && (c & 0xc0) === 0x80);
}
