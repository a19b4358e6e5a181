import { encBytes, encNum, encNums, type EncodedNumber, type StateReader } from './state-codec.ts';

/**
 * Shape novelty with a small prototype memory, in the spirit of adaptive
 * resonance (ARTime, the best published NAB entry, is built on fuzzy ART).
 * Readings are averaged in blocks of `block`; the last `length` block means,
 * quantised to bytes on the warm-up grid (`resolution` steps per grid span),
 * form a feature vector. If no stored prototype is within `vigilance` (as a
 * fraction of the grid span, max-norm) the shape is novel: raw 1, and it is
 * stored (replacing the least recently matched prototype when memory is
 * full). Otherwise the matching prototype is refreshed and raw is 0. Between
 * block ends the last raw score is held.
 */
export class ShapeChannel {
  private acc = 0;
  private cnt = 0;
  private readonly ring: Float64Array;
  private pos = 0;
  private filled = 0;
  private readonly protos: Uint8Array;
  private readonly stamps: Float64Array;
  private count = 0;
  private clock = 0;
  private last = 0;
  private readonly feat: Uint8Array;

  constructor(
    private readonly block: number,
    private readonly length: number,
    private readonly capacity: number,
    private readonly vigilance: number,
    private readonly resolution: number,
  ) {
    this.ring = new Float64Array(length);
    this.feat = new Uint8Array(length);
    this.protos = new Uint8Array(capacity * length);
    this.stamps = new Float64Array(capacity);
  }

  update(v: number, lo: number, width: number): number {
    this.acc += v;
    this.cnt++;
    if (this.cnt < this.block) return this.last;
    const m = this.acc / this.cnt;
    this.acc = 0;
    this.cnt = 0;
    const L = this.length;
    this.ring[this.pos] = m;
    this.pos = this.pos + 1 === L ? 0 : this.pos + 1;
    if (this.filled < L) {
      this.filled++;
      this.last = 0;
      return 0;
    }
    const f = this.feat;
    for (let i = 0; i < L; i++) {
      const z = Math.round(((this.ring[(this.pos + i) % L]! - lo) / width) * this.resolution) + 64;
      f[i] = z > 0 ? (z < 255 ? z : 255) : 0; // NaN → 0
    }
    let best = Number.POSITIVE_INFINITY;
    let bi = -1;
    for (let k = 0; k < this.count; k++) {
      const off = k * L;
      let d = 0;
      for (let i = 0; i < L; i++) {
        const e = Math.abs(this.protos[off + i]! - f[i]!);
        if (e > d) d = e;
      }
      if (d < best) {
        best = d;
        bi = k;
      }
    }
    this.clock++;
    if (best / this.resolution > this.vigilance) {
      let slot = this.count;
      if (slot < this.capacity) this.count++;
      else {
        slot = 0;
        for (let k = 1; k < this.capacity; k++) if (this.stamps[k]! < this.stamps[slot]!) slot = k;
      }
      this.protos.set(f, slot * L);
      this.stamps[slot] = this.clock;
      this.last = 1;
    } else {
      this.stamps[bi] = this.clock;
      this.last = 0;
    }
    return this.last;
  }

  get bytes(): number {
    return this.ring.byteLength + this.protos.byteLength + this.stamps.byteLength + 7 * 8;
  }

  snapshot(): Record<string, EncodedNumber | EncodedNumber[] | string> {
    return {
      acc: encNum(this.acc), cnt: this.cnt, ring: encNums(this.ring), pos: this.pos, filled: this.filled,
      protos: encBytes(this.protos), stamps: encNums(this.stamps), count: this.count, clock: this.clock, last: encNum(this.last),
    };
  }

  restore(r: StateReader): void {
    this.acc = r.num('acc');
    this.cnt = r.int('cnt');
    this.ring.set(r.nums('ring', this.length));
    this.pos = r.int('pos');
    this.filled = r.int('filled');
    r.bytes('protos', this.protos);
    this.stamps.set(r.nums('stamps', this.capacity));
    this.count = r.int('count');
    this.clock = r.int('clock');
    this.last = r.num('last');
    if (this.count > this.capacity || this.pos >= this.length) throw r.fail('shape channel state out of bounds');
  }
}
