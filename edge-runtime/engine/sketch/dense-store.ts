/**
 * Counts per bin index for one sign of a DDSketch: a dense array of counts
 * with an offset, grown as new indices arrive, spanning at most `maxBins`
 * consecutive indices.
 *
 * When a new index would make the span exceed `maxBins`, the lowest indices
 * (the smallest magnitudes) are folded into the lowest bin that stays,
 * `floor = highest index − maxBins + 1`, and `collapsed` becomes true. The
 * folding is order-independent: a value of index i always ends in bin
 * `max(i, floor)` where `floor` comes from the highest index ever seen, so the
 * contents depend only on the multiset of indices added, never on the order of
 * adds and merges. That is what makes merge(A, B) state-identical to a store
 * fed A ++ B.
 *
 * Invariants: `lo`..`hi` are the lowest and highest non-empty bins (lo > hi
 * when empty); every array cell outside lo..hi is zero; hi − lo < maxBins.
 */
const MIN_CAPACITY = 32;
const EMPTY = new Float64Array(0);

export class DenseStore {
  /** `counts[k]` is the count of bin `offset + k`. */
  private counts: Float64Array = EMPTY;
  private offset = 0;
  /** Lowest non-empty bin index (greater than `hi` when empty). */
  lo = 1;
  /** Highest non-empty bin index. */
  hi = 0;
  /** Sum of all counts. */
  total = 0;
  /** True once any count was folded into the floor bin. */
  collapsed = false;

  constructor(readonly maxBins: number) {}

  get isEmpty(): boolean {
    return this.hi < this.lo;
  }

  /** Empty the store but keep its buffer, so a reused sketch allocates nothing. */
  clear(): void {
    this.counts.fill(0);
    this.lo = 1;
    this.hi = 0;
    this.total = 0;
    this.collapsed = false;
  }

  /** Hot path: add `n` to bin `index`. */
  add(index: number, n: number): void {
    if (index >= this.lo && index <= this.hi) this.counts[index - this.offset] += n;
    else this.addOutside(index, n);
    this.total += n;
  }

  /** Count of bin `index` (0 outside the stored range). */
  countAt(index: number): number {
    return index >= this.lo && index <= this.hi ? this.counts[index - this.offset]! : 0;
  }

  /** Index of the bin holding the item at 0-based rank `r`, counting from the lowest index. Requires r < total. */
  indexAtRankFromLow(r: number): number {
    let cum = 0;
    const c = this.counts;
    for (let i = this.lo; i < this.hi; i++) {
      cum += c[i - this.offset]!;
      if (cum > r) return i;
    }
    return this.hi;
  }

  /** Index of the bin holding the item at 0-based rank `r`, counting from the highest index. Requires r < total. */
  indexAtRankFromHigh(r: number): number {
    let cum = 0;
    const c = this.counts;
    for (let i = this.hi; i > this.lo; i--) {
      cum += c[i - this.offset]!;
      if (cum > r) return i;
    }
    return this.lo;
  }

  /** Add every bin of `other` (same `maxBins`) as if its values had been added here. */
  mergeFrom(other: DenseStore): void {
    if (other.isEmpty) return;
    const wasEmpty = this.isEmpty;
    const hi = wasEmpty ? other.hi : Math.max(this.hi, other.hi);
    const minLo = wasEmpty ? other.lo : Math.min(this.lo, other.lo);
    const floor = hi - this.maxBins + 1;
    const lo = Math.max(minLo, floor);
    if (minLo < floor || other.collapsed) this.collapsed = true;
    const folded = wasEmpty ? 0 : this.foldBelow(floor);
    if (wasEmpty) this.ensure(lo, hi, 1, 0);
    else this.ensure(lo, hi, Math.max(this.lo, floor), this.hi);
    const c = this.counts;
    const off = this.offset;
    c[lo - off] += folded;
    for (let j = other.lo; j <= other.hi; j++) {
      const k = other.counts[j - other.offset]!;
      if (k !== 0) c[(j < floor ? floor : j) - off] += k;
    }
    this.lo = lo;
    this.hi = hi;
    this.total += other.total;
  }

  copyFrom(other: DenseStore): void {
    this.counts = other.counts.slice();
    this.offset = other.offset;
    this.lo = other.lo;
    this.hi = other.hi;
    this.total = other.total;
    this.collapsed = other.collapsed;
  }

  /** Canonical plain form: counts of bins lo..hi (offset 0 and no counts when empty). */
  toPlain(): { offset: number; counts: number[] } {
    if (this.isEmpty) return { offset: 0, counts: [] };
    const counts: number[] = new Array(this.hi - this.lo + 1);
    for (let i = this.lo; i <= this.hi; i++) counts[i - this.lo] = this.counts[i - this.offset]!;
    return { offset: this.lo, counts };
  }

  /**
   * Load a canonical plain form, already validated by the caller: counts are
   * non-negative safe integers, the first and last are non-zero, and there are
   * at most `maxBins` of them.
   */
  loadPlain(offset: number, counts: readonly number[], collapsed: boolean): void {
    if (counts.length === 0) {
      this.counts = EMPTY;
      this.offset = 0;
      this.lo = 1;
      this.hi = 0;
      this.total = 0;
      this.collapsed = collapsed;
      return;
    }
    this.counts = Float64Array.from(counts);
    this.offset = offset;
    this.lo = offset;
    this.hi = offset + counts.length - 1;
    let t = 0;
    for (let i = 0; i < counts.length; i++) t += counts[i]!;
    this.total = t;
    this.collapsed = collapsed;
  }

  /** Approximate bytes held: the counts array plus object headers. */
  byteSize(): number {
    return 64 + this.counts.byteLength;
  }

  private addOutside(index: number, n: number): void {
    if (this.isEmpty) {
      this.ensure(index, index, 1, 0);
      this.counts[index - this.offset] = n;
      this.lo = this.hi = index;
      return;
    }
    const hi = index > this.hi ? index : this.hi;
    const minLo = index < this.lo ? index : this.lo;
    const floor = hi - this.maxBins + 1;
    let lo = minLo;
    let target = index;
    let folded = 0;
    if (minLo < floor) {
      this.collapsed = true;
      lo = floor;
      if (target < floor) target = floor;
      folded = this.foldBelow(floor);
    }
    this.ensure(lo, hi, Math.max(this.lo, floor), this.hi);
    this.counts[lo - this.offset] += folded;
    this.counts[target - this.offset] += n;
    this.lo = lo;
    this.hi = hi;
  }

  /** Zero the bins below `floor` and return their sum. */
  private foldBelow(floor: number): number {
    if (this.lo >= floor) return 0;
    const end = Math.min(this.hi, floor - 1);
    const c = this.counts;
    let s = 0;
    for (let i = this.lo - this.offset, e = end - this.offset; i <= e; i++) {
      s += c[i]!;
      c[i] = 0;
    }
    return s;
  }

  /**
   * Make the array cover indices lo..hi, keeping the (non-zero) contents of
   * keepLo..keepHi (empty when keepLo > keepHi) and zeros everywhere else.
   */
  private ensure(lo: number, hi: number, keepLo: number, keepHi: number): void {
    const len = this.counts.length;
    if (lo >= this.offset && hi < this.offset + len) return;
    const span = hi - lo + 1;
    const cap = span <= len ? len : Math.min(this.maxBins, Math.max(span, 2 * len, MIN_CAPACITY));
    // Headroom on the side the range is growing towards.
    const offset = hi >= this.offset + len ? lo : hi - cap + 1;
    const keep = keepHi - keepLo + 1;
    if (cap === len) {
      const c = this.counts;
      if (keep > 0) {
        const src = keepLo - this.offset;
        const dst = keepLo - offset;
        c.copyWithin(dst, src, src + keep);
        c.fill(0, 0, dst);
        c.fill(0, dst + keep);
      } else {
        c.fill(0);
      }
    } else {
      const next = new Float64Array(cap);
      if (keep > 0) next.set(this.counts.subarray(keepLo - this.offset, keepHi - this.offset + 1), keepLo - offset);
      this.counts = next;
    }
    this.offset = offset;
  }
}
