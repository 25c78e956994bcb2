// `make manifests` / `make verify-manifests`: crds/*.yaml from the zod schemas in src/api.
// Usage: node scripts/gen-crds.ts [--check] [DIR]   (DIR defaults to crds)
import { checkCrds, writeCrds } from '../src/api/crd/write.ts';

const args = process.argv.slice(2);
const check = args.includes('--check');
const dir = args.find((a) => !a.startsWith('--')) ?? 'crds';

if (check) {
  const { changed, stale } = await checkCrds(dir);
  if (changed.length + stale.length > 0) {
    console.error(
      `CRD_DRIFT: ${dir}/ differs from the schemas in src/api (changed: ${changed.join(', ') || 'none'}; stale: ${stale.join(', ') || 'none'}). Run \`make manifests\` and commit the result.`,
    );
    process.exit(1);
  }
  console.log(`${dir}/ is up to date with src/api`);
} else {
  const { changed, stale } = await writeCrds(dir);
  console.log(`wrote ${dir}/ (changed: ${changed.join(', ') || 'none'}; removed: ${stale.join(', ') || 'none'})`);
}
