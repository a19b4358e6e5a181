import { AnomalyLikelihood } from './anomaly-likelihood.ts';
import { FLAG_SCORE, QUIET, type Detector, type DetectorState, type Verdict } from './detector.ts';
import type { NoveltySpec, Resolved } from './detector-spec.ts';
import { SeenSet } from './seen-set.ts';
import { ShapeChannel } from './shape-channel.ts';
import { encNum, openState } from './state-codec.ts';
import { TransitionChannel } from './transition-channel.ts';

/**
 * The general-purpose detector: an ensemble of novelty views of one series,
 * each calibrated to the series' own history by an anomaly likelihood, plus a
 * spatial check and post-alarm damping. Chosen on the NAB dev split; see
 * docs/BENCHMARKS.md for how it was built and how it scores.
 *
 *  1. Warm-up: the first `warmup` readings fix a grid (origin and span of
 *     their range). Nothing is scored before the grid exists.
 *  2. Spatial: a value more than `spatialTolerance` × range outside every value
 *     seen so far scores 1 at once (as NAB's HTM detector does).
 *  3. Three novelty views, each producing a raw score in [0, 1]:
 *       value  — transitions between single readings on an 8-step grid, orders 1–2;
 *       level  — transitions between means of 24 readings, order 1;
 *       shape  — the last 8 means of 8 readings against a 48-prototype memory.
 *     Each raw stream goes through its own `AnomalyLikelihood`; the score is
 *     the largest of the three.
 *  4. After a flag (score ≥ 0.5) scores are halved for `suppress` readings:
 *     one alarm per event, the way NAB rewards it.
 *
 * Time plays no part (the views count readings), so repeated or backward
 * timestamps change nothing; non-finite values are ignored.
 * State: about 3.6 KB, dominated by a 2 KB seen-set.
 */

const VERSION = 1;
const SET_BITS = 14;
const LEVELS = 8;
const SHAPE = { block: 8, length: 8, capacity: 48, vigilance: 0.2, resolution: 64 } as const;
const SUPPRESS_FACTOR = 0.5;
/** Weight of the newest reading in the running mean used only to explain flags. */
const CONTEXT_ALPHA = 0.05;

type View = 'value' | 'level' | 'shape';

const VIEW_REASON: Record<View, string> = {
  value: 'a sequence of values this series has not shown before',
  level: 'a change between 24-reading averages this series has not shown before',
  shape: 'a shape of the last 64 readings unlike any it remembers',
};

export class NoveltyDetector implements Detector {
  readonly kind = 'novelty' as const;
  private n = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = Number.NEGATIVE_INFINITY;
  private width = 0;
  private glo = Number.POSITIVE_INFINITY;
  private ghi = Number.NEGATIVE_INFINITY;
  private lastFlag = Number.NEGATIVE_INFINITY;
  private ctxMean = 0;
  private ctxVar = 0;
  private readonly set = new SeenSet(SET_BITS);
  private readonly value: TransitionChannel;
  private readonly level: TransitionChannel;
  private readonly shape = new ShapeChannel(SHAPE.block, SHAPE.length, SHAPE.capacity, SHAPE.vigilance, SHAPE.resolution);
  private readonly liks = [new AnomalyLikelihood(), new AnomalyLikelihood(), new AnomalyLikelihood()] as const;

  constructor(private readonly spec: Resolved<NoveltySpec>) {
    this.value = new TransitionChannel(0, 1, LEVELS, 2, this.set);
    this.level = new TransitionChannel(1, 24, LEVELS, 1, this.set);
  }

  update(_eventTime: number, value: number): Verdict {
    if (!Number.isFinite(value)) return QUIET;
    this.n++;
    const prevLo = this.glo;
    const prevHi = this.ghi;
    let spatial = false;
    if (prevHi > prevLo) {
      const tol = (prevHi - prevLo) * this.spec.spatialTolerance;
      spatial = value > prevHi + tol || value < prevLo - tol;
    }
    if (value > this.ghi) this.ghi = value;
    if (value < this.glo) this.glo = value;
    if (this.n === 1) this.ctxMean = value;
    const d = value - this.ctxMean;
    const ctxMean = this.ctxMean;
    const ctxSd = Math.sqrt(this.ctxVar);
    this.ctxMean += CONTEXT_ALPHA * d;
    this.ctxVar = (1 - CONTEXT_ALPHA) * (this.ctxVar + CONTEXT_ALPHA * d * d);

    if (this.width === 0) {
      if (value > this.hi) this.hi = value;
      if (value < this.lo) this.lo = value;
      if (this.n >= this.spec.warmup && this.hi > this.lo) this.width = this.hi - this.lo;
      for (const l of this.liks) l.update(0);
      return QUIET;
    }

    const raws = [
      this.value.update(value, this.lo, this.width),
      this.level.update(value, this.lo, this.width),
      this.shape.update(value, this.lo, this.width),
    ];
    let score = 0;
    let view = 0;
    for (let i = 0; i < 3; i++) {
      const s = this.liks[i]!.update(raws[i]!);
      if (s > score) {
        score = s;
        view = i;
      }
    }
    if (spatial) score = 1;
    if (this.spec.suppress > 0 && this.n - this.lastFlag < this.spec.suppress) score *= SUPPRESS_FACTOR;
    if (score < FLAG_SCORE) return score === 0 ? QUIET : { score, anomaly: null };
    this.lastFlag = this.n;
    if (spatial) {
      return {
        score,
        anomaly: {
          detector: 'novelty',
          reason: `value ${value} is outside everything seen so far [${prevLo}, ${prevHi}] by more than ${this.spec.spatialTolerance * 100}% of that range`,
          expected: [prevLo, prevHi],
          observed: value,
        },
      };
    }
    const v: View = view === 0 ? 'value' : view === 1 ? 'level' : 'shape';
    const tail = this.liks[view]!.lastTail;
    return {
      score,
      anomaly: {
        detector: 'novelty',
        reason: `${VIEW_REASON[v]} (likelihood of the recent novelty ${tail.toPrecision(2)})`,
        expected: [ctxMean - 3 * ctxSd, ctxMean + 3 * ctxSd],
        observed: value,
      },
    };
  }

  onProcessingTime(): Verdict | null {
    return null;
  }

  stateBytes(): number {
    return this.set.bytes + this.value.bytes + this.level.bytes + this.shape.bytes + 3 * AnomalyLikelihood.BYTES + 10 * 8;
  }

  snapshot(): DetectorState {
    return {
      name: 'detector.novelty',
      version: VERSION,
      data: {
        spec: this.spec,
        n: this.n, lo: encNum(this.lo), hi: encNum(this.hi), width: encNum(this.width), glo: encNum(this.glo), ghi: encNum(this.ghi),
        lastFlag: encNum(this.lastFlag), ctxMean: encNum(this.ctxMean), ctxVar: encNum(this.ctxVar),
        set: this.set.snapshot(), value: this.value.snapshot(), level: this.level.snapshot(), shape: this.shape.snapshot(),
        liks: this.liks.map((l) => l.snapshot()),
      },
    };
  }

  restore(state: DetectorState): void {
    const r = openState(state, 'detector.novelty', VERSION, this.spec);
    this.n = r.int('n');
    this.lo = r.num('lo');
    this.hi = r.num('hi');
    this.width = r.num('width');
    this.glo = r.num('glo');
    this.ghi = r.num('ghi');
    this.lastFlag = r.num('lastFlag');
    this.ctxMean = r.num('ctxMean');
    this.ctxVar = r.num('ctxVar');
    this.set.restore(r, 'set');
    this.value.restore(r.object('value'));
    this.level.restore(r.object('level'));
    this.shape.restore(r.object('shape'));
    const liks = r.list('liks', 3);
    this.liks.forEach((l, i) => l.restore(liks[i]!));
  }
}
