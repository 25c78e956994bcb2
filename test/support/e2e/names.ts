// Unique names for everything an e2e run creates on the host (namespaces,
// bpffs directories, scratch directories), so concurrent or crashed runs
// never collide and leftovers are attributable: `stl-<pid>-<rand>`.
import { randomBytes } from 'node:crypto';

export const RUN_PREFIX = 'stl-';

/** A fresh id for one topology/run: `stl-<pid>-<6 hex>`. */
export function uniqueRunId(): string {
  return `${RUN_PREFIX}${String(process.pid)}-${randomBytes(3).toString('hex')}`;
}
