// Backends indexed by namespace and by label pair, so resolving 1,000 VIP
// selectors over 100,000 Backends does not evaluate every selector against
// every Backend. Lists keep the caller's order (oldest first), which the
// compile step relies on for deterministic conflict resolution.
import type { Backend } from '../api/backend.ts';
import type { LabelSelector } from '../api/meta.ts';
import { matchesSelector } from './selector.ts';

const EMPTY: readonly Backend[] = [];

interface NamespaceIndex {
  readonly all: Backend[];
  /** `key\u0000value` -> Backends carrying that label. */
  readonly byLabel: Map<string, Backend[]>;
}

export class BackendIndex {
  readonly #namespaces = new Map<string, NamespaceIndex>();

  /** `backends` must already be in the order selections should come out in. */
  constructor(backends: readonly Backend[], namespaceOf: (b: Backend) => string) {
    for (const backend of backends) {
      const ns = namespaceOf(backend);
      let index = this.#namespaces.get(ns);
      if (index === undefined) {
        index = { all: [], byLabel: new Map() };
        this.#namespaces.set(ns, index);
      }
      index.all.push(backend);
      for (const [key, value] of Object.entries(backend.metadata.labels ?? {})) {
        const pair = `${key}\u0000${value}`;
        const list = index.byLabel.get(pair);
        if (list === undefined) index.byLabel.set(pair, [backend]);
        else list.push(backend);
      }
    }
  }

  /** Backends of `namespace` the selector matches, in construction order. */
  select(namespace: string, selector: LabelSelector): Backend[] {
    const index = this.#namespaces.get(namespace);
    if (index === undefined) return [];
    // Narrow to the rarest required label pair, then check the whole selector.
    let candidates: readonly Backend[] = index.all;
    for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
      const list = index.byLabel.get(`${key}\u0000${value}`) ?? EMPTY;
      if (list.length < candidates.length) candidates = list;
    }
    return candidates.filter((b) => matchesSelector(selector, b.metadata.labels));
  }
}
