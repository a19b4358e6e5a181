import { FLAG_SCORE, QUIET, type Detector, type DetectorState, type Verdict } from './detector.ts';
import type { Resolved, RobustMadSpec } from './detector-spec.ts';
import { zScore } from './ewma-z.ts';
import { encNum, encNums, openState } from './state-codec.ts';

const VERSION = 1;
/** MAD × 1.4826 estimates σ for normal data (Rousseeuw & Croux 1993). */
const MAD_TO_SIGMA = 1.4826;
/** Mean absolute deviation × 1.2533 estimates σ for normal data; the fallback when MAD is 0 (Iglewicz & Hoaglin 1993). */
const MEANAD_TO_SIGMA = 1.253314;

/** The long-run scale follows each window's scale with this weight; the scale used is at least SCALE_FLOOR of it. */
const LONG_ALPHA = 0.01;
const SCALE_FLOOR = 0.3;

function meanAbsDev(values: Float64Array, n: number, med: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.abs(values[i]! - med);
  return s / n;
}

/** Median of a sorted array's first `n` entries. */
function median(sorted: Float64Array, n: number): number {
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h]! : (sorted[h - 1]! + sorted[h]!) / 2;
}

/**
 * Median absolute deviation from `med` of a sorted array's first `n` entries,
 * in O(n): the deviations, taken outward from the median, come in order from
 * two sorted runs, so a merge finds the middle ones.
 */
function mad(sorted: Float64Array, n: number, med: number): number {
  let i = n >> 1; // first index at or above the median position
  while (i > 0 && sorted[i - 1]! >= med) i--;
  let left = i - 1;
  let right = i;
  const want = n >> 1; // index of the (upper) middle deviation
  let prev = 0;
  for (let k = 0; k <= want; k++) {
    const dl = left >= 0 ? med - sorted[left]! : Number.POSITIVE_INFINITY;
    const dr = right < n ? sorted[right]! - med : Number.POSITIVE_INFINITY;
    const cur = dl <= dr ? dl : dr;
    if (dl <= dr) left--;
    else right++;
    if (k === want) return n % 2 === 1 ? cur : (prev + cur) / 2;
    prev = cur;
  }
  return 0;
}

/**
 * Robust z-score over a sliding window of the last `window` readings:
 * |x − median| / (1.4826 · MAD), or 1.2533 · mean absolute deviation when
 * more than half the window sits on the median (MAD 0), floored at
 * 0.3 × its own long-run average (so a window that went flat for a while
 * does not flag every ordinary wiggle after it) and at `minScale`. The window is kept
 * twice, in arrival order (to drop the oldest) and sorted (insertion and
 * removal are O(window)), so one reading costs O(window). A series flat from
 * the start with `minScale` 0 flags any departure at all. Non-finite values are ignored;
 * time plays no part.
 */
export class RobustMadDetector implements Detector {
  readonly kind = 'robust-mad' as const;
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private pos = 0;
  private count = 0;
  private longScale = 0;

  constructor(private readonly spec: Resolved<RobustMadSpec>) {
    this.ring = new Float64Array(spec.window);
    this.sorted = new Float64Array(spec.window);
  }

  update(_eventTime: number, value: number): Verdict {
    if (!Number.isFinite(value)) return QUIET;
    const { threshold, warmup, minScale } = this.spec;
    let verdict: Verdict = QUIET;
    if (this.count >= warmup) {
      const med = median(this.sorted, this.count);
      const m = mad(this.sorted, this.count, med);
      // more than half the window equal to the median makes MAD 0; fall back to the mean deviation
      const sigma = m > 0 ? MAD_TO_SIGMA * m : MEANAD_TO_SIGMA * meanAbsDev(this.sorted, this.count, med);
      this.longScale = this.longScale === 0 ? sigma : this.longScale + LONG_ALPHA * (sigma - this.longScale);
      const scale = Math.max(sigma, SCALE_FLOOR * this.longScale, minScale);
      const dev = Math.abs(value - med);
      const z = scale > 0 ? dev / scale : dev === 0 ? 0 : Number.POSITIVE_INFINITY;
      const score = zScore(z, threshold);
      if (score >= FLAG_SCORE) {
        verdict = {
          score,
          anomaly: {
            detector: 'robust-mad',
            reason: scale > 0
              ? `value ${value} is ${z.toPrecision(3)} robust deviations from the median ${med} of the last ${this.count} readings (limit ${threshold})`
              : `value ${value} departs from the last ${this.count} readings, all equal to ${med}`,
            expected: [med - threshold * scale, med + threshold * scale],
            observed: value,
          },
        };
      } else if (score > 0) verdict = { score, anomaly: null };
    }
    this.insert(value);
    return verdict;
  }

  private insert(value: number): void {
    const W = this.spec.window;
    const s = this.sorted;
    let n = this.count;
    if (n === W) {
      const old = this.ring[this.pos]!;
      let j = 0;
      while (s[j] !== old) j++;
      s.copyWithin(j, j + 1, n);
      n--;
    } else this.count++;
    let j = n;
    while (j > 0 && s[j - 1]! > value) {
      s[j] = s[j - 1]!;
      j--;
    }
    s[j] = value;
    this.ring[this.pos] = value;
    this.pos = this.pos + 1 === W ? 0 : this.pos + 1;
  }

  onProcessingTime(): Verdict | null {
    return null;
  }

  stateBytes(): number {
    return this.ring.byteLength + this.sorted.byteLength + 3 * 8;
  }

  snapshot(): DetectorState {
    // arrival order, oldest first; the sorted copy is rebuilt on restore
    const vals: number[] = [];
    const W = this.spec.window;
    const start = this.count === W ? this.pos : 0;
    for (let i = 0; i < this.count; i++) vals.push(this.ring[(start + i) % W]!);
    return { name: 'detector.robust-mad', version: VERSION, data: { spec: this.spec, values: encNums(vals), longScale: encNum(this.longScale) } };
  }

  restore(state: DetectorState): void {
    const r = openState(state, 'detector.robust-mad', VERSION, this.spec);
    const vals = r.nums('values');
    if (vals.length > this.spec.window || vals.some((v) => !Number.isFinite(v))) throw r.fail('values do not fit the window');
    this.ring.fill(0);
    this.sorted.fill(0);
    this.pos = 0;
    this.count = 0;
    for (const v of vals) this.insert(v);
    this.longScale = r.num('longScale');
  }
}
