// Address text <-> bytes for packets (IP via the shared src/api parser).

import { formatIp, parseIp } from '../api/ip.ts';
import { SterletError } from '../common/errors.ts';

export function ipBytes(text: string, family?: 4 | 6): Buffer {
  const ip = parseIp(text);
  const want = family === undefined ? undefined : family === 4 ? 'IPv4' : 'IPv6';
  if (ip === undefined || (want !== undefined && ip.family !== want)) {
    throw new SterletError('PACKET_BAD_ADDRESS', `${JSON.stringify(text)} is not an ${want ?? 'IP'} address`, {
      fix: `use an ${want ?? 'IPv4 or IPv6'} address in canonical text form`,
    });
  }
  return Buffer.from(ip.bytes);
}

export function ipText(bytes: Buffer): string {
  return formatIp({ family: bytes.length === 4 ? 'IPv4' : 'IPv6', bytes });
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function macBytes(text: string): Buffer {
  if (!MAC.test(text)) {
    throw new SterletError('PACKET_BAD_ADDRESS', `${JSON.stringify(text)} is not a MAC address`, { fix: "write it as 'aa:bb:cc:dd:ee:ff'" });
  }
  return Buffer.from(text.replaceAll(':', ''), 'hex');
}

export function macText(bytes: Buffer): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}
