/**
 * A binary min-heap of items that know their own position, so an item's key
 * can change (up or down) or the item can leave in O(log n).
 */
export interface HeapItem {
  heapIndex: number; // -1 when not in the heap
}

export class IndexedMinHeap<T extends HeapItem> {
  private items: T[] = [];

  /** `less(a, b)`: a comes out before b. Make it a total order where output order matters. */
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (i < this.items.length) {
      this.items[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
  }

  /** Call after the item's key changed. */
  update(item: T): void {
    if (item.heapIndex < 0) return;
    this.up(item.heapIndex);
    this.down(item.heapIndex);
  }

  clear(): void {
    for (const it of this.items) it.heapIndex = -1;
    this.items = [];
  }

  private up(i: number): void {
    const items = this.items;
    const it = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.less(it, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = it;
    it.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const it = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(items[r]!, items[l]!)) c = r;
      if (!this.less(items[c]!, it)) break;
      items[i] = items[c]!;
      items[i]!.heapIndex = i;
      i = c;
    }
    items[i] = it;
    it.heapIndex = i;
  }
}
