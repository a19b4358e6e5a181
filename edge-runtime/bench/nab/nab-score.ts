import type { Profiles } from './nab-corpus.ts';

/**
 * The NAB v1.1 scoring rule (Ahmad, Lavin, Purdy & Agha, Neurocomputing 2017;
 * NAB `nab/scorer.py` and `nab/sweeper.py`), written from the rule as the
 * dataset README states it and checked against `shared/tools/nab_score.py`.
 */

/** What the scorer needs of a file: its key, its row count and its windows as inclusive row ranges. */
export interface ScorableFile {
  readonly key: string;
  readonly rows: number;
  readonly windows: readonly (readonly [number, number])[];
}

export interface ProfileScore {
  /** 100 × (raw − raw_null) / (perfect − raw_null). */
  readonly normalized: number;
  readonly raw: number;
  readonly threshold: number;
  /** Detecting rows inside windows (rows, not windows, as NAB counts them). */
  readonly tp: number;
  readonly tn: number;
  readonly fp: number;
  /** Non-detecting rows inside windows. */
  readonly fn: number;
  readonly perFile: Readonly<Record<string, number>>;
}

export type NabResult = Readonly<Record<string, ProfileScore>>;

/** NAB: the first 15 % of a file's rows, at most 750 (0.15 × 5000), are never scored. */
export const PROBATION_FRACTION = 0.15;
export const PROBATION_CAP = 750;

export function probationRows(rows: number): number {
  return Math.min(Math.floor(PROBATION_FRACTION * rows), PROBATION_FRACTION * 5000);
}

/** The scaled sigmoid 2/(1+e^{5p}) − 1; −1 beyond three window lengths past a window. */
export function nabCurve(pos: number): number {
  if (pos > 3) return -1;
  return 2 / (1 + Math.exp(5 * pos)) - 1;
}

const MAX_TP = nabCurve(-1);

/**
 * Per scored row of one file: whether it is inside a window, the window's id
 * (−1 outside) and the unweighted value (a TP fraction inside, an FP fraction
 * ≤ 0 outside). Probationary rows are left out.
 */
interface FileWeights {
  readonly first: number; // first scored row
  readonly windowId: Int32Array; // per scored row
  readonly value: Float64Array; // per scored row, unweighted
  readonly windowIds: readonly number[]; // windows with at least one scored row
}

function fileWeights(file: ScorableFile, idBase: number): FileWeights {
  const n = file.rows;
  const first = Math.min(n, probationRows(n));
  const count = n - first;
  const windowId = new Int32Array(count);
  const value = new Float64Array(count);
  const seen = new Set<number>();
  const wins = file.windows.map((w, j) => ({ a: w[0], b: w[1], id: idBase + j }));
  let next = 0;
  let cur: { a: number; b: number; id: number } | null = null;
  let prevLast = -1;
  let prevLen = 0;
  for (let i = 0; i < n; i++) {
    if (next < wins.length && wins[next]!.a === i) cur = wins[next++]!;
    let inside = -1;
    let v: number;
    if (cur !== null) {
      const length = cur.b - cur.a + 1;
      v = nabCurve(-(cur.b - i + 1) / length);
      inside = cur.id;
    } else if (prevLast < 0) {
      v = -1;
    } else {
      // distance past the preceding window, in units of (its length − 1)
      const gap = prevLen - 1;
      const pos = gap > 0 ? Math.abs(prevLast - i) / gap : Number.POSITIVE_INFINITY;
      v = nabCurve(pos);
    }
    if (i >= first) {
      windowId[i - first] = inside;
      value[i - first] = v;
      if (inside >= 0) seen.add(inside);
    }
    if (cur !== null && i === cur.b) {
      prevLast = i;
      prevLen = cur.b - cur.a + 1;
      cur = null;
    }
  }
  return { first, windowId, value, windowIds: [...seen].sort((x, y) => x - y) };
}

/**
 * Scores detectors on a fixed set of labeled files. Construct once per corpus,
 * then call `score` with one anomaly-score array per file (same order as `files`).
 */
export class NabScorer {
  readonly files: readonly ScorableFile[];
  readonly profiles: Profiles;
  readonly windowCount: number;
  private readonly weights: FileWeights[];
  private readonly nullRaw: Record<string, number>;

  constructor(files: readonly ScorableFile[], profiles: Profiles) {
    this.files = files;
    this.profiles = profiles;
    this.weights = [];
    let base = 0;
    for (const f of files) {
      this.weights.push(fileWeights(f, base));
      base += f.windows.length;
    }
    this.windowCount = base;
    // the null detector: 0.5 on every row
    const nullScores = files.map((f) => new Float64Array(f.rows).fill(0.5));
    const res = this.rawScores(nullScores);
    this.nullRaw = {};
    for (const p of Object.keys(profiles)) this.nullRaw[p] = res[p]!.raw;
  }

  /** The null detector's raw score per profile. */
  nullRawScore(profile: string): number {
    return this.nullRaw[profile]!;
  }

  score(scores: readonly ArrayLike<number>[], fixedThresholds?: Readonly<Record<string, number>>): NabResult {
    const raw = this.rawScores(scores, fixedThresholds);
    const out: Record<string, ProfileScore> = {};
    for (const [p, prof] of Object.entries(this.profiles)) {
      const perfect = this.windowCount * prof.CostMatrix.tpWeight;
      const base = this.nullRaw[p]!;
      const r = raw[p]!;
      out[p] = { ...r, normalized: (100 * (r.raw - base)) / (perfect - base) };
    }
    return out;
  }

  private rawScores(
    scores: readonly ArrayLike<number>[],
    fixedThresholds?: Readonly<Record<string, number>>,
  ): Record<string, Omit<ProfileScore, 'normalized'>> {
    if (scores.length !== this.files.length) throw new RangeError(`expected ${this.files.length} score arrays, got ${scores.length}`);
    // every scored row, as (file, row) sorted by anomaly score, highest first (stable)
    let total = 0;
    for (let f = 0; f < this.files.length; f++) {
      const s = scores[f]!;
      if (s.length !== this.files[f]!.rows) {
        throw new RangeError(`${this.files[f]!.key}: ${s.length} scores for ${this.files[f]!.rows} rows`);
      }
      total += this.weights[f]!.value.length;
    }
    const ptScore = new Float64Array(total);
    const ptWin = new Int32Array(total);
    const ptVal = new Float64Array(total);
    let k = 0;
    for (let f = 0; f < this.files.length; f++) {
      const w = this.weights[f]!;
      const s = scores[f]!;
      for (let i = 0; i < w.value.length; i++, k++) {
        const a = s[w.first + i]!;
        if (Number.isNaN(a)) throw new RangeError(`${this.files[f]!.key}: NaN anomaly score at row ${w.first + i}`);
        ptScore[k] = a;
        ptWin[k] = w.windowId[i]!;
        ptVal[k] = w.value[i]!;
      }
    }
    const order = new Uint32Array(total);
    for (let i = 0; i < total; i++) order[i] = i;
    order.sort((x, y) => ptScore[y]! - ptScore[x]! || x - y);

    const out: Record<string, Omit<ProfileScore, 'normalized'>> = {};
    for (const [pname, prof] of Object.entries(this.profiles)) {
      const { tpWeight, fpWeight, fnWeight } = prof.CostMatrix;
      let threshold: number;
      if (fixedThresholds !== undefined && fixedThresholds[pname] !== undefined) {
        threshold = fixedThresholds[pname]!;
      } else {
        threshold = this.bestThreshold(order, ptScore, ptWin, ptVal, tpWeight, fpWeight, fnWeight);
      }
      let raw = 0;
      let tp = 0;
      let tn = 0;
      let fp = 0;
      let fn = 0;
      const perFile: Record<string, number> = {};
      for (let f = 0; f < this.files.length; f++) {
        const w = this.weights[f]!;
        const s = scores[f]!;
        const best = new Map<number, number>();
        for (const id of w.windowIds) best.set(id, -fnWeight);
        let fpSum = 0;
        for (let i = 0; i < w.value.length; i++) {
          const det = s[w.first + i]! >= threshold;
          const id = w.windowId[i]!;
          if (id >= 0) {
            if (det) {
              tp++;
              const v = (w.value[i]! * tpWeight) / MAX_TP;
              if (v > best.get(id)!) best.set(id, v);
            } else fn++;
          } else if (det) {
            fp++;
            fpSum += w.value[i]! * fpWeight;
          } else tn++;
        }
        let fileRaw = fpSum;
        for (const v of best.values()) fileRaw += v;
        perFile[this.files[f]!.key] = fileRaw;
        raw += fileRaw;
      }
      out[pname] = { raw, threshold, tp, tn, fp, fn, perFile };
    }
    return out;
  }

  /**
   * NAB's sweep: try every distinct anomaly score as the threshold T (a row
   * detects when score ≥ T), plus 1.1 (nothing detects); keep the highest T
   * among those with the best raw score.
   */
  private bestThreshold(
    order: Uint32Array,
    ptScore: Float64Array,
    ptWin: Int32Array,
    ptVal: Float64Array,
    tpWeight: number,
    fpWeight: number,
    fnWeight: number,
  ): number {
    const best = new Float64Array(this.windowCount).fill(-fnWeight);
    let winSum = 0;
    for (const w of this.weights) winSum -= fnWeight * w.windowIds.length;
    let fpSum = 0;
    let thr = 1.1;
    let bestRaw = winSum + fpSum;
    let bestThr = thr;
    // raws are sums of the same terms in different orders; treat differences
    // below this as ties so rounding never moves the choice
    const eps = 1e-9;
    for (let j = 0; j < order.length; j++) {
      const k = order[j]!;
      const a = ptScore[k]!;
      if (a !== thr) {
        const raw = winSum + fpSum;
        if (raw > bestRaw + eps) {
          bestRaw = raw;
          bestThr = thr;
        }
        thr = a;
      }
      const id = ptWin[k]!;
      if (id < 0) fpSum += ptVal[k]! * fpWeight;
      else {
        const v = (ptVal[k]! * tpWeight) / MAX_TP;
        if (v > best[id]!) {
          winSum += v - best[id]!;
          best[id] = v;
        }
      }
    }
    const raw = winSum + fpSum;
    if (raw > bestRaw + eps) bestThr = thr;
    return bestThr;
  }
}
