// Flag parsing for `sterlet`: --name value, --name=value, boolean --name,
// repeatable list flags, and every flag also from the environment as
// STERLET_<NAME_IN_CAPS> (e.g. --bpf-object -> STERLET_BPF_OBJECT). Usage
// errors carry code CLI_USAGE; the entry point exits 2 on them.

import { SterletError } from '../common/errors.ts';

export type FlagType = 'string' | 'number' | 'boolean' | 'list';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly help: string;
  readonly default?: string | number | boolean;
  readonly required?: boolean;
  /** One-letter alias (`-i eth0`), for the flags typed most often. */
  readonly short?: string;
}

export class UsageError extends SterletError {
  constructor(what: string, fix: string) {
    super('CLI_USAGE', what, { fix });
  }
}

export interface Flags {
  str(name: string): string | undefined;
  num(name: string): number | undefined;
  bool(name: string): boolean;
  list(name: string): string[];
  /** True when the flag was given on the command line or in the environment. */
  has(name: string): boolean;
}

export function envName(flag: string): string {
  return `STERLET_${flag.replaceAll('-', '_').toUpperCase()}`;
}

export function parseFlags(command: string, argv: readonly string[], specs: readonly FlagSpec[], env: NodeJS.ProcessEnv = process.env): Flags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.flatMap((s) => (s.short === undefined ? [] : [[s.short, s.name] as const])));
  const values = new Map<string, string[]>();
  const push = (name: string, value: string): void => {
    const list = values.get(name) ?? [];
    list.push(value);
    values.set(name, list);
  };
  for (let i = 0; i < argv.length; i++) {
    const given = argv[i] ?? '';
    // -x VALUE and -x=VALUE are --long VALUE / --long=VALUE.
    const short = /^-([A-Za-z])(=.*)?$/.exec(given);
    const long = short === null ? undefined : byShort.get(short[1] ?? '');
    if (short !== null && long === undefined) {
      throw new UsageError(`sterlet ${command}: unknown flag ${given.slice(0, 2)}`, `short flags: ${[...byShort].map(([k, v]) => `-${k} (--${v})`).join(' ') || 'none'}`);
    }
    const arg = long === undefined ? given : `--${long}${short?.[2] ?? ''}`;
    if (!arg.startsWith('--')) throw new UsageError(`sterlet ${command}: unexpected argument ${JSON.stringify(arg)}`, `see sterlet ${command} --help`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (spec === undefined) {
      throw new UsageError(`sterlet ${command}: unknown flag --${name}`, `known flags: ${specs.map((s) => `--${s.name}`).join(' ')}`);
    }
    if (eq >= 0) push(name, arg.slice(eq + 1));
    else if (spec.type === 'boolean') push(name, 'true');
    else {
      const value = argv[i + 1];
      if (value === undefined) throw new UsageError(`sterlet ${command}: --${name} needs a value`, `pass --${name} VALUE`);
      push(name, value);
      i++;
    }
  }
  for (const spec of specs) {
    if (values.has(spec.name)) continue;
    const fromEnv = env[envName(spec.name)];
    if (fromEnv !== undefined && fromEnv !== '') {
      for (const v of spec.type === 'list' ? fromEnv.split(/[\s,]+/).filter(Boolean) : [fromEnv]) push(spec.name, v);
    }
  }
  for (const spec of specs) {
    if (spec.required === true && !values.has(spec.name)) {
      throw new UsageError(`sterlet ${command}: --${spec.name} is required`, `pass --${spec.name} or set ${envName(spec.name)}`);
    }
    const raw = values.get(spec.name);
    if (raw === undefined) continue;
    if (spec.type !== 'list' && raw.length > 1) {
      throw new UsageError(`sterlet ${command}: --${spec.name} given ${raw.length} times`, 'pass it once');
    }
    for (const v of raw) {
      if (spec.type === 'number' && !/^-?\d+(\.\d+)?$/.test(v)) {
        throw new UsageError(`sterlet ${command}: --${spec.name} must be a number, got ${JSON.stringify(v)}`, `e.g. --${spec.name} ${String(spec.default ?? 1)}`);
      }
      if (spec.type === 'boolean' && !['true', 'false', '1', '0'].includes(v)) {
        throw new UsageError(`sterlet ${command}: --${spec.name} must be true or false, got ${JSON.stringify(v)}`, `use --${spec.name}=true or --${spec.name}=false`);
      }
    }
  }
  const first = (name: string): string | undefined => {
    const v = values.get(name)?.[0];
    if (v !== undefined) return v;
    const d = byName.get(name)?.default;
    return d === undefined ? undefined : String(d);
  };
  const known = (name: string): void => {
    if (!byName.has(name)) throw new Error(`flag --${name} is not declared for ${command}`);
  };
  return {
    str: (name) => (known(name), first(name)),
    num: (name) => {
      known(name);
      const v = first(name);
      return v === undefined ? undefined : Number(v);
    },
    bool: (name) => {
      known(name);
      const v = first(name);
      return v === 'true' || v === '1';
    },
    list: (name) => (known(name), values.get(name) ?? []),
    has: (name) => (known(name), values.has(name)),
  };
}

export function usage(command: string, summary: string, specs: readonly FlagSpec[]): string {
  const lines = [`sterlet ${command} — ${summary}`, '', 'Flags (each also from the environment as STERLET_<NAME>):'];
  for (const s of specs) {
    const def = s.default === undefined ? '' : ` (default ${String(s.default)})`;
    const req = s.required === true ? ' (required)' : '';
    const flag = s.short === undefined ? `    --${s.name}` : `-${s.short}, --${s.name}`;
    lines.push(`  ${flag.padEnd(24)} ${s.help}${def}${req}`);
  }
  return lines.join('\n');
}
