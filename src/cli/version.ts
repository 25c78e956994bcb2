// The version `sterlet --version` prints: package.json's, found beside src/
// in a checkout and beside dist/ in the image (both two levels above cli/).
import { readFileSync } from 'node:fs';

export function sterletVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
