// A binary min-heap of integers (node indices): topological sorts that take the smallest ready index
// first stay O(n log n) on wide graphs.

/** A binary min-heap of integers. */
export class MinHeap {
  private readonly items: number[] = [];
  /** Number of items. */
  get size(): number {
    return this.items.length;
  }
  /** Add `x`. */
  push(x: number): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as number) <= x) break;
      a[i] = a[parent] as number;
      i = parent;
    }
    a[i] = x;
  }
  /** Remove and return the smallest item (the heap must not be empty). */
  pop(): number {
    const a = this.items;
    const top = a[0] as number;
    const last = a.pop() as number;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const child = r < a.length && (a[r] as number) < (a[l] as number) ? r : l;
        if ((a[child] as number) >= last) break;
        a[i] = a[child] as number;
        i = child;
      }
      a[i] = last;
    }
    return top;
  }
}
