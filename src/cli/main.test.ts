import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const run = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
  const r = spawnSync('node_modules/.bin/node', ['src/cli/sterlet.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('sterlet exit codes and output streams', () => {
  it('bare `sterlet` is a usage error: overview on stderr, status 2', () => {
    const r = run();
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: sterlet <command>');
  });

  it('--help and --version are asked for: stdout, status 0', () => {
    const help = run('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('-V, --version');
    for (const flag of ['--version', '-V', 'version']) {
      const r = run(flag);
      expect(r.code, flag).toBe(0);
      expect(r.stdout, flag).toMatch(new RegExp(`^sterlet ${version.replaceAll('.', '\\.')} \\(node v\\d+\\.\\d+\\.\\d+\\)\n$`));
    }
  });

  it('an unknown command or short flag is a usage error (2); command help lists the short flags', () => {
    expect(run('nope')).toMatchObject({ code: 2, stdout: '' });
    const help = run('stats', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/-b, --bpffs/);
    expect(help.stdout).toMatch(/-j, --json/);
    const bad = run('stats', '-z');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown flag -z');
  });
});
