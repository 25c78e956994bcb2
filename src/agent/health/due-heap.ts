// A binary min-heap of items by due time; each item keeps its own index so a
// changed due time or a removal is O(log n) without a search.

export interface HeapItem {
  due: number;
  heapIndex: number;
}

export class DueHeap<T extends HeapItem> {
  readonly #h: T[] = [];

  get top(): T | undefined {
    return this.#h[0];
  }

  push(p: T): void {
    p.heapIndex = this.#h.length;
    this.#h.push(p);
    this.#up(p.heapIndex);
  }

  remove(p: T): void {
    const i = p.heapIndex;
    if (i < 0) return;
    const last = this.#h.pop() as T;
    p.heapIndex = -1;
    if (last === p) return;
    this.#h[i] = last;
    last.heapIndex = i;
    this.#up(i);
    this.#down(last.heapIndex);
  }

  /** Restores order after p.due changed. */
  fix(p: T): void {
    if (p.heapIndex < 0) return;
    this.#up(p.heapIndex);
    this.#down(p.heapIndex);
  }

  #up(i: number): void {
    const h = this.#h;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as T).due <= (h[i] as T).due) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const h = this.#h;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && (h[l] as T).due < (h[m] as T).due) m = l;
      if (r < h.length && (h[r] as T).due < (h[m] as T).due) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }

  #swap(a: number, b: number): void {
    const h = this.#h;
    const pa = h[a] as T;
    const pb = h[b] as T;
    h[a] = pb;
    h[b] = pa;
    pa.heapIndex = b;
    pb.heapIndex = a;
  }
}
