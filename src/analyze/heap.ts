/**
 * A binary min-heap: O(log n) push and pop, O(1) peek. The reorder window
 * (streams.ts) holds up to its whole budget of segments (8 MiB of 1-byte
 * records is 8 M of them), and --summary's start-order buffer up to a million
 * rows, so a scan or a splice per item would make either quadratic.
 */
export class MinHeap<T> {
  private readonly a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => boolean) {}

  get size(): number {
    return this.a.length;
  }

  peek(): T | undefined {
    return this.a[0];
  }

  push(v: T): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.less(v, a[up])) break;
      a[i] = a[up];
      i = up;
    }
    a[i] = v;
  }

  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && this.less(a[l + 1], a[l]) ? l + 1 : l;
      if (!this.less(a[c], last)) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.a.length = 0;
  }

  values(): readonly T[] {
    return this.a;
  }
}
