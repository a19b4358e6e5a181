/**
 * A binary min-heap of timed events. Ties in time are broken by insertion
 * order, so the simulation is deterministic.
 */
export interface Timed {
  readonly time: number;
}

interface Entry<T> {
  readonly time: number;
  readonly seq: number;
  readonly item: T;
}

export class EventQueue<T extends Timed> {
  private readonly heap: Entry<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(item: T): void {
    const h = this.heap;
    h.push({ time: item.time, seq: this.seq++, item });
    // Sift up, moving the hole instead of swapping.
    const e = h[h.length - 1];
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(e, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  /** Time of the earliest event, or +Infinity when empty. */
  peekTime(): number {
    return this.heap.length === 0 ? Number.POSITIVE_INFINITY : this.heap[0].time;
  }

  pop(): T | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop() as Entry<T>;
    if (h.length > 0) {
      // Sift down from the root, moving the hole.
      const n = h.length;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && less(h[r], h[l]) ? r : l;
        if (!less(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top.item;
  }
}

function less<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
