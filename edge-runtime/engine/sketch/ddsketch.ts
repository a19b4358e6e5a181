import { DenseStore } from './dense-store.ts';
import { SketchError } from './errors.ts';

/**
 * DDSketch: a mergeable quantile sketch with relative accuracy
 * (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch
 * with Relative-Error Guarantees", VLDB 2019).
 *
 * A value v > 0 falls in bin i = ⌈log_γ v⌉, γ = (1 + α)/(1 − α), i.e. in
 * (γ^(i−1), γ^i]; the bin answers with γ^(i−1)·(1 + α) = 2γ^i/(γ + 1), which is
 * within α·v of every value in the bin (paper §2, Lemma 2). Negative values use
 * a second store on |v|; values with |v| < 2^−1022 (the smallest normal double:
 * zeros and subnormals) are counted as zero.
 *
 * Guarantee: for q in [0, 1] and n values, `quantile(q)` answers for the item
 * x at 0-based rank ⌊q·(n − 1)⌋ of the sorted input (`sorted[Math.floor(q*(n-1))]`)
 * with |answer − x| ≤ α·|x| (plus float rounding of ~1e−13 relative, and an
 * absolute 2^−1022 for subnormal inputs). q = 0 and q = 1 give the exact min and
 * max; every answer is clamped to [min, max].
 *
 * Bounded memory: each sign's store spans at most `maxBins` bins (default 2048,
 * which at α = 1% covers values over 17 orders of magnitude, e.g. 1e−6 to 1e11).
 * Past that, the lowest-magnitude bins are folded into one (`collapsed`), and the
 * guarantee then holds only for quantiles whose rank falls outside that folded
 * bin — i.e. for the large-magnitude end: high quantiles of positive values,
 * low quantiles of negative values. Merge and state are unaffected.
 *
 * Mergeable and order-independent: merge(sketch(A), sketch(B)) has the same
 * state as sketch(A ++ B), bins, count, min and max included.
 */

/** Plain data (numbers and arrays of numbers only): survives JSON and CBOR exactly. */
export interface DDSketchState {
  readonly version: number;
  readonly relativeAccuracy: number;
  readonly maxBins: number;
  readonly count: number;
  /** Exact smallest value added (0 when count is 0). */
  readonly min: number;
  /** Exact largest value added (0 when count is 0). */
  readonly max: number;
  readonly zeroCount: number;
  /** Bin index of `posCounts[0]` (0 when empty). */
  readonly posOffset: number;
  /** Counts of consecutive bins of positive values; first and last non-zero. */
  readonly posCounts: readonly number[];
  /** 1 if low-magnitude positive bins were folded together, else 0. */
  readonly posCollapsed: number;
  readonly negOffset: number;
  readonly negCounts: readonly number[];
  readonly negCollapsed: number;
}

export interface DDSketchOptions {
  /** α in (0, 1); default 0.01. */
  readonly relativeAccuracy?: number;
  /** Bins per sign, integer in [1, 2^20]; default 2048. */
  readonly maxBins?: number;
}

export const DDSKETCH_STATE_VERSION = 1;
export const DEFAULT_RELATIVE_ACCURACY = 0.01;
export const DEFAULT_MAX_BINS = 2048;
const MAX_MAX_BINS = 1 << 20;
/** The smallest positive normal double; smaller magnitudes count as zero. */
export const MIN_INDEXABLE = 2 ** -1022;

export class DDSketch {
  readonly relativeAccuracy: number;
  readonly maxBins: number;
  private readonly lnGamma: number;
  /** 1 / ln γ: index = ⌈ln v · multiplier⌉. */
  private readonly multiplier: number;
  private readonly pos: DenseStore;
  private readonly neg: DenseStore;
  private n = 0;
  private zeros = 0;
  private lowest = Infinity;
  private highest = -Infinity;

  constructor(opts: DDSketchOptions = {}) {
    const a = opts.relativeAccuracy ?? DEFAULT_RELATIVE_ACCURACY;
    const b = opts.maxBins ?? DEFAULT_MAX_BINS;
    if (typeof a !== 'number' || !(a > 0 && a < 1)) {
      throw new SketchError('E_SKETCH_ARGUMENT', `relativeAccuracy must be in (0, 1), got ${String(a)}`);
    }
    if (!Number.isInteger(b) || b < 1 || b > MAX_MAX_BINS) {
      throw new SketchError('E_SKETCH_ARGUMENT', `maxBins must be an integer in [1, ${MAX_MAX_BINS}], got ${String(b)}`);
    }
    this.relativeAccuracy = a;
    this.maxBins = b;
    // ln γ = ln((1 + α)/(1 − α)) = ln(1 + 2α/(1 − α)); log1p keeps precision for small α.
    this.lnGamma = Math.log1p((2 * a) / (1 - a));
    this.multiplier = 1 / this.lnGamma;
    this.pos = new DenseStore(b);
    this.neg = new DenseStore(b);
  }

  /** Forget every value but keep the buffers (pools reuse sketches across windows). */
  clear(): void {
    this.pos.clear();
    this.neg.clear();
    this.n = 0;
    this.zeros = 0;
    this.lowest = Infinity;
    this.highest = -Infinity;
  }

  get isEmpty(): boolean {
    return this.n === 0;
  }

  /** Number of values added. */
  get count(): number {
    return this.n;
  }

  /** Exact smallest value added, or null when empty. */
  get min(): number | null {
    return this.n === 0 ? null : this.lowest;
  }

  /** Exact largest value added, or null when empty. */
  get max(): number | null {
    return this.n === 0 ? null : this.highest;
  }

  /** True if some low-magnitude bins were folded (see the class comment for what that costs). */
  get collapsed(): boolean {
    return this.pos.collapsed || this.neg.collapsed;
  }

  /** Add one value. Non-finite values (NaN, ±Infinity) are ignored and return false. */
  add(v: number): boolean {
    if (v - v !== 0) return false; // NaN and ±Infinity (and non-numbers) give NaN
    v += 0; // −0 → +0, so that state survives JSON
    this.n++;
    if (v < this.lowest) this.lowest = v;
    if (v > this.highest) this.highest = v;
    if (v >= MIN_INDEXABLE) this.pos.add(Math.ceil(Math.log(v) * this.multiplier), 1);
    else if (v <= -MIN_INDEXABLE) this.neg.add(Math.ceil(Math.log(-v) * this.multiplier), 1);
    else this.zeros++;
    return true;
  }

  /** Add `n` copies of `v` (n a non-negative safe integer). Returns false, adding nothing, if v is not finite or n is 0. */
  addN(v: number, n: number): boolean {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new SketchError('E_SKETCH_ARGUMENT', `addN count must be a non-negative safe integer, got ${String(n)}`);
    }
    if (v - v !== 0 || n === 0) return false;
    v += 0;
    this.n += n;
    if (v < this.lowest) this.lowest = v;
    if (v > this.highest) this.highest = v;
    if (v >= MIN_INDEXABLE) this.pos.add(Math.ceil(Math.log(v) * this.multiplier), n);
    else if (v <= -MIN_INDEXABLE) this.neg.add(Math.ceil(Math.log(-v) * this.multiplier), n);
    else this.zeros += n;
    return true;
  }

  /** Fold `other` into this sketch. Both must have the same relativeAccuracy and maxBins. */
  merge(other: DDSketch): void {
    if (other.relativeAccuracy !== this.relativeAccuracy || other.maxBins !== this.maxBins) {
      throw new SketchError(
        'E_SKETCH_MISMATCH',
        `cannot merge DDSketch(α=${other.relativeAccuracy}, maxBins=${other.maxBins}) into DDSketch(α=${this.relativeAccuracy}, maxBins=${this.maxBins})`,
      );
    }
    if (other.n === 0) return;
    const src = other === this ? other.clone() : other;
    this.pos.mergeFrom(src.pos);
    this.neg.mergeFrom(src.neg);
    this.n += src.n;
    this.zeros += src.zeros;
    if (src.lowest < this.lowest) this.lowest = src.lowest;
    if (src.highest > this.highest) this.highest = src.highest;
  }

  /**
   * The value at 0-based rank ⌊q·(n − 1)⌋, within relativeAccuracy (see the class
   * comment); null when empty. q outside [0, 1] throws E_SKETCH_ARGUMENT.
   */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new SketchError('E_SKETCH_ARGUMENT', `quantile q must be in [0, 1], got ${String(q)}`);
    const n = this.n;
    if (n === 0) return null;
    let r = Math.floor(q * (n - 1));
    if (r <= 0) return this.lowest;
    if (r >= n - 1) return this.highest;
    let v: number;
    if (r < this.neg.total) {
      v = -this.binValue(this.neg.indexAtRankFromHigh(r));
    } else {
      r -= this.neg.total;
      if (r < this.zeros) v = 0;
      else v = this.binValue(this.pos.indexAtRankFromLow(r - this.zeros));
    }
    // Clamping cannot move the answer away from the true value, which lies in [min, max].
    return v < this.lowest ? this.lowest : v > this.highest ? this.highest : v;
  }

  clone(): DDSketch {
    const c = new DDSketch({ relativeAccuracy: this.relativeAccuracy, maxBins: this.maxBins });
    c.pos.copyFrom(this.pos);
    c.neg.copyFrom(this.neg);
    c.n = this.n;
    c.zeros = this.zeros;
    c.lowest = this.lowest;
    c.highest = this.highest;
    return c;
  }

  toState(): DDSketchState {
    const p = this.pos.toPlain();
    const g = this.neg.toPlain();
    const empty = this.n === 0;
    return {
      version: DDSKETCH_STATE_VERSION,
      relativeAccuracy: this.relativeAccuracy,
      maxBins: this.maxBins,
      count: this.n,
      min: empty ? 0 : this.lowest,
      max: empty ? 0 : this.highest,
      zeroCount: this.zeros,
      posOffset: p.offset,
      posCounts: p.counts,
      posCollapsed: this.pos.collapsed ? 1 : 0,
      negOffset: g.offset,
      negCounts: g.counts,
      negCollapsed: this.neg.collapsed ? 1 : 0,
    };
  }

  /** Rebuild a sketch from `toState()` output; anything else throws E_SKETCH_STATE. */
  static fromState(s: DDSketchState): DDSketch {
    const st: unknown = s;
    if (typeof st !== 'object' || st === null || Array.isArray(st)) bad('state is not an object');
    const o = st as Record<string, unknown>;
    if (o.version !== DDSKETCH_STATE_VERSION) bad(`unknown version ${String(o.version)}`);
    let sk: DDSketch;
    try {
      sk = new DDSketch({ relativeAccuracy: num(o, 'relativeAccuracy'), maxBins: num(o, 'maxBins') });
    } catch (e) {
      if (e instanceof SketchError && e.code === 'E_SKETCH_ARGUMENT') bad(e.message, e);
      throw e;
    }
    const count = nonNegativeInteger(o, 'count');
    const zeroCount = nonNegativeInteger(o, 'zeroCount');
    const min = num(o, 'min');
    const max = num(o, 'max');
    const posCollapsed = flag(o, 'posCollapsed');
    const negCollapsed = flag(o, 'negCollapsed');
    const [posOffset, posCounts] = bins(o, 'pos', sk);
    const [negOffset, negCounts] = bins(o, 'neg', sk);
    if (posCounts.length === 0 && (posOffset !== 0 || posCollapsed)) bad('empty positive store with offset or collapsed flag');
    if (negCounts.length === 0 && (negOffset !== 0 || negCollapsed)) bad('empty negative store with offset or collapsed flag');
    sk.pos.loadPlain(posOffset, posCounts, posCollapsed);
    sk.neg.loadPlain(negOffset, negCounts, negCollapsed);
    if (sk.pos.total + sk.neg.total + zeroCount !== count || !Number.isSafeInteger(count)) bad('count is not the sum of the bins');
    sk.n = count;
    sk.zeros = zeroCount;
    if (count === 0) {
      if (min !== 0 || max !== 0 || Object.is(min, -0) || Object.is(max, -0)) bad('empty sketch must have min = max = 0');
      return sk;
    }
    if (!(min <= max) || Object.is(min, -0) || Object.is(max, -0)) bad('min > max, or −0');
    sk.lowest = min;
    sk.highest = max;
    sk.checkExtremes();
    return sk;
  }

  /** Approximate bytes of memory held. */
  byteSize(): number {
    return 96 + this.pos.byteSize() + this.neg.byteSize();
  }

  /** The answer for bin i: γ^(i−1)·(1 + α), within α of every value in (γ^(i−1), γ^i]. */
  private binValue(i: number): number {
    return Math.exp((i - 1) * this.lnGamma) * (1 + this.relativeAccuracy);
  }

  private index(v: number): number {
    return Math.ceil(Math.log(v) * this.multiplier);
  }

  /**
   * min and max must sit in the lowest and highest non-empty bins. Tolerates one
   * bin of difference, in case Math.log rounds differently where the state was
   * written (a neighbouring bin is still within ~α).
   */
  private checkExtremes(): void {
    const { lowest: min, highest: max, pos, neg } = this;
    const near = (a: number, b: number): boolean => Math.abs(a - b) <= 1;
    const floorOf = (s: DenseStore): number => s.hi - s.maxBins + 1;
    let ok: boolean;
    if (!neg.isEmpty) ok = min <= -MIN_INDEXABLE && near(this.index(-min), neg.hi);
    else if (this.zeros > 0) ok = min > -MIN_INDEXABLE && min < MIN_INDEXABLE;
    else ok = min >= MIN_INDEXABLE && near(Math.max(this.index(min), floorOf(pos)), pos.lo);
    if (!ok) bad('min does not match the lowest bin');
    if (!pos.isEmpty) ok = max >= MIN_INDEXABLE && near(this.index(max), pos.hi);
    else if (this.zeros > 0) ok = max > -MIN_INDEXABLE && max < MIN_INDEXABLE;
    else ok = max <= -MIN_INDEXABLE && near(Math.max(this.index(-max), floorOf(neg)), neg.lo);
    if (!ok) bad('max does not match the highest bin');
  }
}

function bad(message: string, cause?: unknown): never {
  throw new SketchError('E_SKETCH_STATE', `invalid DDSketch state: ${message}`, cause === undefined ? undefined : { cause });
}

function num(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${key} is not a finite number`);
  return v;
}

function nonNegativeInteger(o: Record<string, unknown>, key: string): number {
  const v = num(o, key);
  if (!Number.isSafeInteger(v) || v < 0) bad(`${key} is not a non-negative integer`);
  return v;
}

function flag(o: Record<string, unknown>, key: string): boolean {
  const v = o[key];
  if (v !== 0 && v !== 1) bad(`${key} must be 0 or 1`);
  return v === 1;
}

/** Validate `<side>Offset` and `<side>Counts`: canonical (trimmed) counts within the index range of the mapping. */
function bins(o: Record<string, unknown>, side: 'pos' | 'neg', sk: DDSketch): [number, number[]] {
  const offset = num(o, `${side}Offset`);
  const counts = o[`${side}Counts`];
  if (!Array.isArray(counts)) bad(`${side}Counts is not an array`);
  if (counts.length > sk.maxBins) bad(`${side}Counts has more than maxBins entries`);
  if (!Number.isSafeInteger(offset)) bad(`${side}Offset is not an integer`);
  const out: number[] = new Array(counts.length);
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c: unknown = counts[i];
    if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0) bad(`${side}Counts[${i}] is not a non-negative integer`);
    out[i] = c;
    sum += c;
  }
  if (!Number.isSafeInteger(sum)) bad(`${side}Counts sum is too large`);
  if (out.length > 0) {
    if (out[0] === 0 || out[out.length - 1] === 0) bad(`${side}Counts is not trimmed`);
    // Indices of representable magnitudes: [index(2^−1022), index(Number.MAX_VALUE)].
    const m = 1 / Math.log1p((2 * sk.relativeAccuracy) / (1 - sk.relativeAccuracy));
    const lowest = Math.ceil(Math.log(MIN_INDEXABLE) * m) - 1;
    const highest = Math.ceil(Math.log(Number.MAX_VALUE) * m) + 1;
    if (offset < lowest || offset + out.length - 1 > highest) bad(`${side} bins outside the index range`);
  }
  return [offset, out];
}
