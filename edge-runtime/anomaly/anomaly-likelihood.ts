import { normalTail } from './normal.ts';
import { encNum, encNums, type EncodedNumber, type StateReader } from './state-codec.ts';

/**
 * Anomaly likelihood in bounded memory, after Numenta's HTM anomaly
 * likelihood (Ahmad et al., "Unsupervised real-time anomaly detection for
 * streaming data", Neurocomputing 2017, §3.2; nupic `anomaly_likelihood.py`).
 *
 * A raw novelty score in [0, 1] arrives per reading. The likelihood asks how
 * unusual the mean of the last `AVG` raw scores is, given the distribution of
 * that mean over the series' history: a normal fit whose mean and variance are
 * estimated over the history (cumulatively up to `HISTORY` readings, then
 * exponentially forgetting — the bounded stand-in for HTM's 8,640-reading
 * window) and refreshed every `REESTIMATE` readings, with floors on both so a
 * perfectly predictable series does not make every blip infinitely unlikely.
 * The distribution is symmetric around its mean, as in HTM.
 *
 * The output is HTM's log scale: −log(tail + 1e-10)/log(1e-10) ∈ [0, 1], so a
 * tail probability of 1e-5 maps to 0.5. When two readings in a row fall in the
 * red zone (tail ≤ 1e-5) the second is reported as yellow (1e-3) — one alarm
 * per excursion, as HTM filters its likelihoods.
 */

const AVG = 10;
const LEARNING = 200;
const ESTIMATION = 100;
const HISTORY = 8640;
const REESTIMATE = 100;
const MIN_MEAN = 0.03;
const MIN_VAR = 0.0003;
const RED = 1e-5;
const YELLOW = 1e-3;
// HTM computes the floor as log(1 − 0.9999999999), slightly above log(1e-10); kept for parity.
const LOG_FLOOR = Math.log(1.0 - 0.9999999999);

export interface LikelihoodResult {
  /** Log-scaled likelihood in [0, 1]. */
  score: number;
  /** Tail probability of the current moving average (before the red-zone filter). */
  tail: number;
}

export class AnomalyLikelihood {
  private readonly ring = new Float64Array(AVG);
  private pos = 0;
  private filled = 0;
  private sum = 0;
  /** Readings seen (including the learning period). */
  private seen = 0;
  /** Readings that went into the estimate. */
  private counted = 0;
  private estMean = 0;
  private estVar = 0;
  private mean = MIN_MEAN;
  private sd = Math.sqrt(MIN_VAR);
  private ready = false;
  private prevRed = false;
  /** Tail probability of the last update (for explanations). */
  lastTail = 1;

  /** Feeds one raw score; returns the log-scaled likelihood (0 while still learning). */
  update(raw: number): number {
    this.sum += raw - this.ring[this.pos]!;
    this.ring[this.pos] = raw;
    this.pos = this.pos + 1 === AVG ? 0 : this.pos + 1;
    if (this.filled < AVG) this.filled++;
    const avg = this.sum / this.filled;
    let likelihood = 0.5;
    this.lastTail = 1;
    if (this.seen >= LEARNING + ESTIMATION) {
      if (!this.ready || this.seen % REESTIMATE === 0) {
        this.mean = Math.max(this.estMean, MIN_MEAN);
        this.sd = Math.sqrt(Math.max(this.estVar, MIN_VAR));
        this.ready = true;
      }
      const x = avg < this.mean ? 2 * this.mean - avg : avg;
      const tail = normalTail((x - this.mean) / this.sd);
      this.lastTail = tail;
      const red = tail <= RED;
      likelihood = 1 - (red && this.prevRed ? YELLOW : tail);
      this.prevRed = red;
    }
    if (this.seen >= LEARNING) {
      this.counted++;
      const a = Math.max(1 / this.counted, 1 / HISTORY);
      const d = avg - this.estMean;
      this.estMean += a * d;
      this.estVar = (1 - a) * (this.estVar + a * d * d);
    }
    this.seen++;
    return Math.log(1.0000000001 - likelihood) / LOG_FLOOR;
  }

  static readonly BYTES = AVG * 8 + 11 * 8;

  snapshot(): Record<string, EncodedNumber | EncodedNumber[] | boolean> {
    return {
      ring: encNums(this.ring), pos: this.pos, filled: this.filled, sum: encNum(this.sum), seen: this.seen,
      counted: this.counted, estMean: encNum(this.estMean), estVar: encNum(this.estVar), mean: encNum(this.mean),
      sd: encNum(this.sd), ready: this.ready, prevRed: this.prevRed, lastTail: encNum(this.lastTail),
    };
  }

  restore(r: StateReader): void {
    this.ring.set(r.nums('ring', AVG));
    this.pos = r.int('pos');
    this.filled = r.int('filled');
    this.sum = r.num('sum');
    this.seen = r.int('seen');
    this.counted = r.int('counted');
    this.estMean = r.num('estMean');
    this.estVar = r.num('estVar');
    this.mean = r.num('mean');
    this.sd = r.num('sd');
    this.ready = r.bool('ready');
    this.prevRed = r.bool('prevRed');
    this.lastTail = r.num('lastTail');
  }
}
