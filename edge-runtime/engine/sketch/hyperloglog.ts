import { Buffer } from 'node:buffer';
import { SketchError } from './errors.ts';
import { hashValue, type Hash53 } from './hash.ts';

/**
 * HyperLogLog distinct count (Flajolet, Fusy, Gandouet, Meunier 2007) with
 * m = 2^p registers, p in [4, 16], over a 53-bit hash (./hash.ts): the top p
 * bits pick the register, the register keeps the largest ρ = (leading zeros of
 * the remaining 53 − p bits) + 1, in [0, 54 − p].
 *
 * Estimator: Ertl's improved estimator ("New cardinality estimation algorithms
 * for HyperLogLog sketches", 2017, Algorithm 6), which needs neither linear
 * counting switch-over nor HLL++'s empirical bias tables, with relative standard
 * error ≈ 1.04/√m (1.6% at p = 12). Its constant is Flajolet's α_m rather than
 * the limit α∞ = 1/(2 ln 2): measured (3,000 runs per point, n = 5..10,000), α∞
 * overestimates by 7% at p = 4, 3.5% at p = 5, 2% at p = 6, while α_m keeps the
 * bias under 2% everywhere; from p = 7 up they differ by < 1%. At p = 4 the
 * spread is ≈ 0.27 rather than 0.26: 1.04/√m is the large-m limit.
 *
 * Sparse start: while the sketch has seen at most m/32 distinct hashes (8 bytes
 * each, so at most m/4 bytes), it keeps the sorted distinct 53-bit hashes
 * themselves and `estimate()` is their exact count (wrong only on a 53-bit hash
 * collision, probability ≈ n²/2^54). One more distinct hash converts it to
 * dense registers. p = 4 (m/32 = 0) is dense from the start.
 *
 * The state is a function of the set of distinct hashes only (sparse iff there
 * are at most m/32 of them, else the registers), so merge(sketch(A), sketch(B))
 * is state-identical to sketch(A ∪ B) in any order and combination.
 */

/** Plain data; sparse: the sorted distinct hashes; dense: the registers as base64. Survives JSON and CBOR. */
export type HyperLogLogState =
  | { readonly version: number; readonly precision: number; readonly hashes: readonly number[] }
  | { readonly version: number; readonly precision: number; readonly registers: string };

export interface HyperLogLogOptions {
  /** p in [4, 16]: 2^p registers; default 12. */
  readonly precision?: number;
}

export const HLL_STATE_VERSION = 1;
export const DEFAULT_PRECISION = 12;
const MIN_PRECISION = 4;
const MAX_PRECISION = 16;
const HASH_BITS = 53;
const TWO_21 = 2097152;
const EMPTY = new Float64Array(0);

const scratch: Hash53 = { hi: 0, lo: 0 };
const histogram = new Float64Array(HASH_BITS + 2);

export class HyperLogLog {
  readonly precision: number;
  /** Distinct hashes the sparse form may hold (m/32). */
  private readonly sparseLimit: number;
  /** Sorted distinct hashes `hi · 2^21 + lo` in [0, size); null once dense. */
  private sparse: Float64Array | null;
  private size = 0;
  private registers: Uint8Array | null;
  /** Last dense estimate, −1 when registers changed since. */
  private cached = -1;

  constructor(opts: HyperLogLogOptions = {}) {
    const p = opts.precision ?? DEFAULT_PRECISION;
    checkPrecision(p);
    this.precision = p;
    this.sparseLimit = (1 << p) >>> 5;
    if (this.sparseLimit === 0) {
      this.sparse = null;
      this.registers = new Uint8Array(1 << p);
    } else {
      this.sparse = EMPTY;
      this.registers = null;
    }
  }

  /** Forget every value (back to the empty sparse form where the precision has one). */
  clear(): void {
    if (this.sparseLimit === 0) this.registers!.fill(0);
    else {
      this.sparse = EMPTY;
      this.registers = null;
    }
    this.size = 0;
    this.cached = -1;
  }

  get isEmpty(): boolean {
    return this.registers === null ? this.size === 0 : this.registers.every((r) => r === 0);
  }

  /** Relative standard error of the estimate with 2^p registers: 1.04/√(2^p). */
  static standardError(p: number): number {
    checkPrecision(p);
    return 1.04 / Math.sqrt(2 ** p);
  }

  /** True while the sketch holds exact hashes (and `estimate()` is exact). */
  get isSparse(): boolean {
    return this.registers === null;
  }

  add(value: string | number | boolean): void {
    hashValue(value, scratch);
    const reg = this.registers;
    if (reg !== null) this.addDense(reg, scratch.hi, scratch.lo);
    else this.addKey(scratch.hi * TWO_21 + scratch.lo);
  }

  /** Fold `other` (same precision) into this sketch: the union of both inputs. */
  merge(other: HyperLogLog): void {
    if (other.precision !== this.precision) {
      throw new SketchError('E_SKETCH_MISMATCH', `cannot merge HyperLogLog(p=${other.precision}) into HyperLogLog(p=${this.precision})`);
    }
    if (other === this) return; // a union with itself changes nothing
    const oreg = other.registers;
    if (oreg === null) {
      const keys = other.sparse!;
      if (this.registers === null) this.mergeSparse(keys, other.size);
      else for (let i = 0; i < other.size; i++) this.addDenseKey(this.registers, keys[i]!);
      return;
    }
    const reg = this.registers ?? this.toDense();
    for (let i = 0; i < reg.length; i++) if (oreg[i]! > reg[i]!) reg[i] = oreg[i]!;
    this.cached = -1;
  }

  /** Estimated number of distinct values, rounded; exact while sparse. */
  estimate(): number {
    const reg = this.registers;
    if (reg === null) return this.size;
    if (this.cached < 0) this.cached = Math.round(ertl(reg, HASH_BITS - this.precision));
    return this.cached;
  }

  clone(): HyperLogLog {
    const c = new HyperLogLog({ precision: this.precision });
    c.sparse = this.sparse === null ? null : this.sparse.slice();
    c.size = this.size;
    c.registers = this.registers === null ? null : this.registers.slice();
    c.cached = this.cached;
    return c;
  }

  toState(): HyperLogLogState {
    const reg = this.registers;
    if (reg === null) return { version: HLL_STATE_VERSION, precision: this.precision, hashes: Array.from(this.sparse!.subarray(0, this.size)) };
    return { version: HLL_STATE_VERSION, precision: this.precision, registers: Buffer.from(reg.buffer, reg.byteOffset, reg.byteLength).toString('base64') };
  }

  /** Rebuild a sketch from `toState()` output; anything else throws E_SKETCH_STATE. */
  static fromState(s: HyperLogLogState): HyperLogLog {
    const st: unknown = s;
    if (typeof st !== 'object' || st === null || Array.isArray(st)) bad('state is not an object');
    const o = st as Record<string, unknown>;
    if (o.version !== HLL_STATE_VERSION) bad(`unknown version ${String(o.version)}`);
    const p = o.precision;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < MIN_PRECISION || p > MAX_PRECISION) bad(`precision ${String(p)} is not an integer in [4, 16]`);
    const h = new HyperLogLog({ precision: p });
    const hasHashes = 'hashes' in o;
    if (hasHashes === ('registers' in o)) bad('needs exactly one of hashes and registers');
    if (hasHashes) {
      const keys = o.hashes;
      if (!Array.isArray(keys)) bad('hashes is not an array');
      if (keys.length > h.sparseLimit) bad(`more than ${h.sparseLimit} hashes for precision ${p}`);
      const a = new Float64Array(keys.length);
      let prev = -1;
      for (let i = 0; i < keys.length; i++) {
        const k: unknown = keys[i];
        if (typeof k !== 'number' || !Number.isSafeInteger(k) || k <= prev) bad(`hashes[${i}] is not a 53-bit integer above the previous one`);
        a[i] = prev = k;
      }
      h.sparse = a;
      h.size = a.length;
      return h;
    }
    const text = o.registers;
    if (typeof text !== 'string') bad('registers is not a string');
    const bytes = Buffer.from(text, 'base64');
    const m = 1 << p;
    if (bytes.length !== m || bytes.toString('base64') !== text) bad(`registers is not canonical base64 of ${m} bytes`);
    const reg = new Uint8Array(m);
    const top = HASH_BITS - p + 1;
    for (let i = 0; i < m; i++) {
      if (bytes[i]! > top) bad(`register ${i} holds ${bytes[i]}, above ${top}`);
      reg[i] = bytes[i]!;
    }
    h.sparse = null;
    h.size = 0;
    h.registers = reg;
    return h;
  }

  /** Approximate bytes of memory held. */
  byteSize(): number {
    return 80 + (this.registers?.byteLength ?? 0) + (this.sparse?.byteLength ?? 0);
  }

  private addDense(reg: Uint8Array, hi: number, lo: number): void {
    const p = this.precision;
    const idx = hi >>> (32 - p);
    const w = hi << p; // the 32 − p bits after the index, then p zero bits
    const rho = w !== 0 ? Math.clz32(w) + 1 : lo !== 0 ? 32 - p + Math.clz32(lo << 11) + 1 : HASH_BITS - p + 1;
    if (rho > reg[idx]!) {
      reg[idx] = rho;
      this.cached = -1;
    }
  }

  private addDenseKey(reg: Uint8Array, key: number): void {
    const hi = Math.floor(key / TWO_21);
    this.addDense(reg, hi, key - hi * TWO_21);
  }

  /** Insert one hash into the sparse form, going dense when it would exceed the limit. */
  private addKey(key: number): void {
    const a = this.sparse!;
    const n = this.size;
    let l = 0;
    let r = n;
    while (l < r) {
      const mid = (l + r) >>> 1;
      if (a[mid]! < key) l = mid + 1;
      else r = mid;
    }
    if (l < n && a[l] === key) return;
    if (n === this.sparseLimit) {
      this.addDenseKey(this.toDense(), key);
      return;
    }
    let b = a;
    if (n === a.length) {
      b = new Float64Array(Math.min(this.sparseLimit, Math.max(4, 2 * n)));
      b.set(a.subarray(0, l));
      b.set(a.subarray(l, n), l + 1);
      this.sparse = b;
    } else {
      b.copyWithin(l + 1, l, n);
    }
    b[l] = key;
    this.size = n + 1;
  }

  /** Union with sorted distinct `keys[0..n)`, both sides sparse. */
  private mergeSparse(keys: Float64Array, n: number): void {
    const a = this.sparse!;
    const an = this.size;
    const out = new Float64Array(an + n);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < an && j < n) {
      const x = a[i]!;
      const y = keys[j]!;
      if (x < y) { out[k++] = x; i++; }
      else if (y < x) { out[k++] = y; j++; }
      else { out[k++] = x; i++; j++; }
    }
    while (i < an) out[k++] = a[i++]!;
    while (j < n) out[k++] = keys[j++]!;
    this.sparse = out;
    this.size = k;
    if (k > this.sparseLimit) this.toDense();
    else if (k < out.length) this.sparse = out.slice(0, k);
  }

  /** Switch to registers, replaying the sparse hashes. */
  private toDense(): Uint8Array {
    const reg = new Uint8Array(1 << this.precision);
    const a = this.sparse!;
    for (let i = 0; i < this.size; i++) this.addDenseKey(reg, a[i]!);
    this.sparse = null;
    this.size = 0;
    this.registers = reg;
    this.cached = -1;
    return reg;
  }
}

/**
 * Ertl 2017, Algorithm 6 ("improved raw estimator"): registers hold values in
 * [0, q + 1] where q is the number of hash bits after the index.
 */
function ertl(reg: Uint8Array, q: number): number {
  const m = reg.length;
  const c = histogram;
  c.fill(0, 0, q + 2);
  for (let i = 0; i < m; i++) c[reg[i]!]++;
  let z = m * tau(1 - c[q + 1]! / m);
  for (let k = q; k >= 1; k--) z = 0.5 * (z + c[k]!);
  z += m * sigma(c[0]! / m);
  return (alpha(m) * m * m) / z;
}

/** Flajolet et al. 2007, Fig. 3: α_16, α_32, α_64, and α_m ≈ 0.7213/(1 + 1.079/m) from m = 128. */
function alpha(m: number): number {
  return m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z !== prev);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z !== prev);
  return z / 3;
}

function checkPrecision(p: number): void {
  if (!Number.isInteger(p) || p < MIN_PRECISION || p > MAX_PRECISION) {
    throw new SketchError('E_SKETCH_ARGUMENT', `precision must be an integer in [${MIN_PRECISION}, ${MAX_PRECISION}], got ${String(p)}`);
  }
}

function bad(message: string): never {
  throw new SketchError('E_SKETCH_STATE', `invalid HyperLogLog state: ${message}`);
}
