/**
 * A 53-bit hash of strings, numbers and booleans for HyperLogLog.
 *
 * Two 32-bit MurmurHash3 lanes run over the same 32-bit blocks: lane A with the
 * block and state mixing of MurmurHash3_x86_32, lane B with those of lane 2 of
 * MurmurHash3_x86_128 (different multipliers and rotations). At the end the
 * lanes are cross-added, finalised with fmix32 and cross-added again, as
 * MurmurHash3_x86_128 does, so every output bit depends on both lanes. The
 * result is `hi` (32 bits) and `lo` (the top 21 bits of the second word): 53
 * bits, exactly representable as a double (`hi · 2^21 + lo`).
 *
 * Input encoding — fixed, because persisted sketches are merged across builds
 * and machines; changing any of it must bump the HyperLogLog state version:
 * - strings: UTF-16 code units, two per 32-bit block (first unit in the low
 *   half), an odd last unit as the tail. No UTF-8 encoding step, no allocation.
 * - numbers: the IEEE-754 float64 bits, low word then high word (the same on
 *   little- and big-endian hosts). −0 hashes as 0 and every NaN as one NaN.
 * - booleans: one block, 1 or 0.
 * Each type has its own seeds, so `1`, `'1'` and `true` are three values.
 */

/** Where a hash is written (reused by the caller: no allocation per value). */
export interface Hash53 {
  /** Top 32 bits, unsigned. */
  hi: number;
  /** Low 21 bits, unsigned. */
  lo: number;
}

// MurmurHash3_x86_32 block constants (lane A) and MurmurHash3_x86_128 lane-2 constants (lane B).
const A1 = 0xcc9e2d51;
const A2 = 0x1b873593;
const B1 = 0xab0e9789;
const B2 = 0x38b34ae5;

// Seeds per input type (hex digits of π).
const STRING_A = 0x243f6a88;
const STRING_B = 0x85a308d3;
const NUMBER_A = 0x13198a2e;
const NUMBER_B = 0x03707344;
const BOOLEAN_A = 0xa4093822;
const BOOLEAN_B = 0x299f31d0;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LOW_WORD = LITTLE_ENDIAN ? 0 : 1;
const HIGH_WORD = LITTLE_ENDIAN ? 1 : 0;

function blockA(h: number, k: number): number {
  k = Math.imul(k, A1);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, A2);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function blockB(h: number, k: number): number {
  k = Math.imul(k, B1);
  k = (k << 16) | (k >>> 16);
  h ^= Math.imul(k, B2);
  h = (h << 17) | (h >>> 15);
  return (Math.imul(h, 5) + 0x0bcaa747) | 0;
}

function tailA(h: number, k: number): number {
  k = Math.imul(k, A1);
  k = (k << 15) | (k >>> 17);
  return h ^ Math.imul(k, A2);
}

function tailB(h: number, k: number): number {
  k = Math.imul(k, B1);
  k = (k << 16) | (k >>> 16);
  return h ^ Math.imul(k, B2);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function finish(a: number, b: number, byteLength: number, out: Hash53): void {
  a ^= byteLength;
  b ^= byteLength;
  a = (a + b) | 0;
  b = (b + a) | 0;
  a = fmix32(a);
  b = fmix32(b);
  a = (a + b) | 0;
  b = (b + a) | 0;
  out.hi = a >>> 0;
  out.lo = b >>> 11;
}

export function hashString(s: string, out: Hash53): void {
  let a = STRING_A;
  let b = STRING_B;
  const n = s.length;
  const even = n & ~1;
  for (let i = 0; i < even; i += 2) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    a = blockA(a, k);
    b = blockB(b, k);
  }
  if (even !== n) {
    const k = s.charCodeAt(even);
    a = tailA(a, k);
    b = tailB(b, k);
  }
  finish(a, b, 2 * n, out);
}

export function hashNumber(v: number, out: Hash53): void {
  let lo: number;
  let hi: number;
  if (v !== v) {
    lo = 0;
    hi = 0x7ff80000; // the canonical quiet NaN
  } else {
    f64[0] = v + 0; // −0 → +0
    lo = u32[LOW_WORD]!;
    hi = u32[HIGH_WORD]!;
  }
  let a = blockA(NUMBER_A, lo);
  let b = blockB(NUMBER_B, lo);
  a = blockA(a, hi);
  b = blockB(b, hi);
  finish(a, b, 8, out);
}

export function hashBoolean(v: boolean, out: Hash53): void {
  const k = v ? 1 : 0;
  finish(blockA(BOOLEAN_A, k), blockB(BOOLEAN_B, k), 4, out);
}

export function hashValue(v: string | number | boolean, out: Hash53): void {
  if (typeof v === 'string') hashString(v, out);
  else if (typeof v === 'number') hashNumber(v, out);
  else hashBoolean(v, out);
}
