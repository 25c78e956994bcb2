// Where a worker thread's module is: its sibling file, `.ts` when running
// from source (Node 24 strips types) and `.js` from dist/. A runtime that
// cannot load `.ts` in a worker (vitest under an older node) gets undefined,
// and the caller does the work on its own thread instead.

export function siblingWorker(fromUrl: string, name: string): URL | undefined {
  const fromSource = fromUrl.endsWith('.ts');
  if (fromSource && !(process.features as { typescript?: unknown }).typescript) return undefined;
  return new URL(`./${name}${fromSource ? '.ts' : '.js'}`, fromUrl);
}
