import { encBytes, type StateReader } from './state-codec.ts';

/**
 * A fixed-size set of hashed keys (a one-hash Bloom filter): `add` says
 * whether the key was new. False "seen" answers happen at the filter's fill
 * ratio; nothing is ever forgotten, so memory stays at `2^bits / 8` bytes.
 */
export class SeenSet {
  private readonly words: Uint32Array;
  private readonly mask: number;

  constructor(bits: number) {
    this.words = new Uint32Array(1 << (bits - 5));
    this.mask = (1 << bits) - 1;
  }

  /** Marks the key; true if it was not marked before. */
  add(key: number): boolean {
    const idx = key & this.mask;
    const w = idx >>> 5;
    const bit = 1 << (idx & 31);
    const word = this.words[w]!;
    if ((word & bit) !== 0) return false;
    this.words[w] = word | bit;
    return true;
  }

  has(key: number): boolean {
    const idx = key & this.mask;
    return (this.words[idx >>> 5]! & (1 << (idx & 31))) !== 0;
  }

  get bytes(): number {
    return this.words.byteLength;
  }

  snapshot(): string {
    return encBytes(this.words);
  }

  restore(r: StateReader, key: string): void {
    r.bytes(key, this.words);
  }
}

/** 32-bit mixing step (multiply–xorshift, after MurmurHash3's finaliser). */
export function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}
