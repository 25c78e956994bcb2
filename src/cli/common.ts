// Pieces every `sterlet` subcommand shares: common flags, address parsing,
// and turning an interface name into the facts the kernel calls need.

import { SterletError } from '../common/errors.ts';
import { parseHostPort } from '../common/http-endpoints.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { discoverLink } from '../agent/host/discovery.ts';
import type { FlagSpec } from './args.ts';
import { UsageError } from './args.ts';

export const LOG_LEVEL_FLAG: FlagSpec = { name: 'log-level', type: 'string', help: 'pino level: debug, info, warn, error', default: 'info' };
export const XDP_MODE_FLAG: FlagSpec = { name: 'xdp-mode', type: 'string', help: 'native (driver) or generic (skb) XDP', default: 'native' };
export const BPF_OBJECT_FLAG: FlagSpec = {
  name: 'bpf-object',
  type: 'string',
  help: 'program build to load (default: the one shipped with this agent); another build = atomic upgrade',
};

export function logger(name: string, level: string | undefined): Logger {
  return createLogger({ name, ...(level === undefined ? {} : { level }) });
}

export function xdpMode(value: string | undefined): 'native' | 'generic' {
  if (value === 'native' || value === 'generic') return value;
  throw new UsageError(`--xdp-mode must be native or generic, got ${JSON.stringify(value)}`, 'pass --xdp-mode native or --xdp-mode generic');
}

/** A HOST:PORT flag ("0.0.0.0:9464", "[::]:9464", ":9464"). */
export function hostPort(text: string, flag: string): { host: string; port: number } {
  const parsed = parseHostPort(text);
  if (parsed === undefined) throw new UsageError(`${flag} ${JSON.stringify(text)} is not HOST:PORT`, `e.g. ${flag} 0.0.0.0:9464`);
  return parsed;
}

export async function ifindexOf(name: string): Promise<number> {
  return (await discoverLink(name)).ifindex;
}

/** A positive integer flag value. */
export function positive(value: number | undefined, flag: string): number {
  if (value === undefined || !Number.isInteger(value) || value < 1) {
    throw new UsageError(`${flag} must be a positive integer, got ${String(value)}`, `pass ${flag} N`);
  }
  return value;
}

/** "172.16.0.0/16" -> prefix and the host bits the flow hash fills in. */
export function outerSource(text: string, family: 4 | 6, flag: string): { address: string; hostBits: number } {
  const [address = '', bits = ''] = text.split('/');
  const len = Number(bits);
  const total = family === 4 ? 32 : 128;
  const isFamily = family === 4 ? !address.includes(':') : address.includes(':');
  if (!isFamily || !/^\d+$/.test(bits) || len > total || total - len > 32) {
    throw new SterletError('CLI_USAGE', `${flag} ${JSON.stringify(text)} is not a usable IPv${family} prefix`, {
      why: 'the flow hash fills at most 32 host bits of the outer source address',
      fix: family === 4 ? `e.g. ${flag} 172.16.0.0/16` : `e.g. ${flag} fd00:5354::/96`,
    });
  }
  return { address, hostBits: total - len };
}
