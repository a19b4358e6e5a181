/**
 * A seeded PRNG: xoshiro128** (Blackman & Vigna), seeded through splitmix32.
 * Every random choice in the simulator comes from one of these, never from
 * Math.random, so the same seed gives the same fleet and the same readings.
 *
 * Streams are derived by label (`Prng.derive(seed, 'env-0001', 'signal', ...)`)
 * rather than split off one generator in sequence, so adding a device or a
 * metric does not shift anyone else's numbers.
 */

/** FNV-1a over the UTF-16 code units of a string, 32 bits. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** splitmix32 step: returns [output, next state]. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z ^= z >>> 15;
  return [z >>> 0, next];
}

function step(s: number, label: string | number): number {
  const [out, next] = splitmix32((s ^ (typeof label === 'number' ? label | 0 : hash32(label))) | 0);
  return (out ^ next) | 0;
}

/** Mixes labels into a seed. `hashFloat(mixSeed(s, a, b), k)` equals `hashFloat(s, a, b, k)`, for hot loops. */
export function mixSeed(seed: number, ...labels: (string | number)[]): number {
  let s = seed | 0;
  for (const l of labels) s = step(s, l);
  return s;
}

/** A stateless hash of (seed, labels…) to a float in [0, 1): for per-index values such as sample jitter. */
export function hashFloat(seed: number, ...labels: (string | number)[]): number {
  return splitmix32(mixSeed(seed, ...labels))[0] / 4294967296;
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    let s = seed | 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [out, next] = splitmix32(s);
      words.push(out);
      s = next;
    }
    [this.a, this.b, this.c, this.d] = words;
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state is a fixed point
  }

  /** A generator with the given raw xoshiro128** state (reference vectors in tests). */
  static fromState(state: readonly [number, number, number, number]): Prng {
    const p = new Prng(0);
    [p.a, p.b, p.c, p.d] = state.map((x) => x | 0);
    return p;
  }

  /** A generator for (seed, labels…), independent of every other label path. */
  static derive(seed: number, ...labels: (string | number)[]): Prng {
    let s = seed | 0;
    for (const l of labels) s = (splitmix32(s ^ hash32(String(l)))[0] ^ s) | 0;
    return new Prng(s);
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9);
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Standard normal (Box–Muller; the second value is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Picks a key with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const keys = Object.keys(weights) as K[];
    const total = keys.reduce((s, k) => s + weights[k], 0);
    let x = this.float() * total;
    for (const k of keys) {
      x -= weights[k];
      if (x < 0) return k;
    }
    return keys[keys.length - 1];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A numeric seed from a CLI value: integers are used as they are, other text is hashed. */
export function seedFrom(v: string | number): number {
  if (typeof v === 'number') return v | 0;
  return /^-?\d+$/.test(v) ? Number(v) | 0 : hash32(v) | 0;
}
