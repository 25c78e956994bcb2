// Parses the `sterlet simulate --flow` spec:
//   'tcp 192.0.2.7:5555 -> 10.200.0.10:80'   'udp [2001:db8::7]:5555 -> [fd00::10]:443'
// Both ends must be the same family (the client packet is one IP header).

import { SterletError } from '../../common/errors.ts';
import { canonicalIp, parseIp, type IpFamily } from '../../api/ip.ts';
import type { Protocol } from '../plan/model.ts';

export interface FlowSpec {
  readonly protocol: Protocol;
  readonly family: IpFamily;
  readonly src: { readonly address: string; readonly port: number };
  readonly dst: { readonly address: string; readonly port: number };
}

const FLOW = /^\s*(tcp|udp)\s+(\S+)\s*->\s*(\S+)\s*$/i;
const ENDPOINT = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/;

export function parseFlow(text: string): FlowSpec {
  const m = FLOW.exec(text);
  if (m === null) throw bad(text, 'expected "PROTO SRC:PORT -> DST:PORT"');
  const src = endpoint(text, m[2] ?? '');
  const dst = endpoint(text, m[3] ?? '');
  if (src.family !== dst.family) throw bad(text, `source is ${src.family} but destination is ${dst.family}`);
  return {
    protocol: (m[1] ?? '').toUpperCase() as Protocol,
    family: src.family,
    src: { address: src.address, port: src.port },
    dst: { address: dst.address, port: dst.port },
  };
}

function endpoint(text: string, part: string): { address: string; port: number; family: IpFamily } {
  const m = ENDPOINT.exec(part);
  if (m === null) throw bad(text, `${JSON.stringify(part)} is not ADDRESS:PORT (write IPv6 as [ADDRESS]:PORT)`);
  const raw = m[1] ?? m[2] ?? '';
  const ip = parseIp(raw);
  if (ip === undefined) throw bad(text, `${JSON.stringify(raw)} is not an IP address`);
  if (m[1] !== undefined && ip.family !== 'IPv6') throw bad(text, `brackets are for IPv6 addresses, got ${raw}`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad(text, `port ${port} is outside 1-65535`);
  return { address: canonicalIp(raw) ?? raw, port, family: ip.family };
}

function bad(text: string, why: string): SterletError {
  return new SterletError('CLI_USAGE', `cannot parse flow ${JSON.stringify(text)}`, {
    why,
    fix: "write it like 'tcp 192.0.2.7:5555 -> 10.200.0.10:80' or 'udp [2001:db8::7]:5555 -> [fd00::10]:443'",
  });
}
