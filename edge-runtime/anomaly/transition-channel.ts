import { mix, type SeenSet } from './seen-set.ts';
import { encNum, type EncodedNumber, type StateReader } from './state-codec.ts';

const Q_LIMIT = 2 ** 30;

/**
 * Sequence novelty on a quantised series. Readings are averaged in blocks of
 * `block`, each block mean is put on a fixed grid of `levels` steps across
 * the warm-up range (values outside it get their own steps, unbounded), and
 * the detector asks, for contexts of the last 1..`orders` steps, whether this
 * context has been followed by this step before. The raw score is the mean
 * over orders of: 0 seen, 0.5 unseen but a neighbouring step was seen, 1 new.
 * Between block ends the last raw score is held.
 *
 * This is a small cousin of the "contextual" NAB detectors (contextOSE) and of
 * what HTM's temporal memory reports as its raw anomaly score.
 */
export class TransitionChannel {
  private acc = 0;
  private cnt = 0;
  private readonly hist: Int32Array;
  private len = 0;
  private last = 0;

  constructor(
    private readonly id: number,
    private readonly block: number,
    private readonly levels: number,
    private readonly orders: number,
    private readonly set: SeenSet,
  ) {
    this.hist = new Int32Array(orders);
  }

  /** Feeds one reading on the grid (origin `lo`, span `width`); returns the raw novelty in [0, 1]. */
  update(v: number, lo: number, width: number): number {
    this.acc += v;
    this.cnt++;
    if (this.cnt < this.block) return this.last;
    const m = this.acc / this.cnt;
    this.acc = 0;
    this.cnt = 0;
    let q = Math.floor(((m - lo) / width) * this.levels);
    if (!(q > -Q_LIMIT)) q = -Q_LIMIT; // also catches NaN
    if (q > Q_LIMIT) q = Q_LIMIT;
    let sum = 0;
    let used = 0;
    for (let k = 1; k <= this.orders && k <= this.len; k++) {
      let h = mix(k + this.id * 100, 77);
      for (let i = this.len - k; i < this.len; i++) h = mix(h, this.hist[i]!);
      let nov = this.set.add(mix(h, q)) ? 1 : 0;
      if (nov === 1 && (this.set.has(mix(h, q - 1)) || this.set.has(mix(h, q + 1)))) nov = 0.5;
      sum += nov;
      used++;
    }
    if (this.len < this.orders) this.hist[this.len++] = q;
    else {
      this.hist.copyWithin(0, 1);
      this.hist[this.orders - 1] = q;
    }
    this.last = used > 0 ? sum / used : 0;
    return this.last;
  }

  get bytes(): number {
    return this.hist.byteLength + 4 * 8;
  }

  snapshot(): Record<string, EncodedNumber | number[]> {
    return { acc: encNum(this.acc), cnt: this.cnt, hist: Array.from(this.hist.subarray(0, this.len)), last: encNum(this.last) };
  }

  restore(r: StateReader): void {
    this.acc = r.num('acc');
    this.cnt = r.int('cnt');
    const h = r.nums('hist');
    if (h.length > this.orders) throw r.fail('history longer than the channel order');
    this.hist.fill(0);
    this.hist.set(h);
    this.len = h.length;
    this.last = r.num('last');
  }
}
