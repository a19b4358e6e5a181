/**
 * Short ASCII strings read out of bytes, each made once while it recurs:
 * a batch's kinds, series, pipelines, devices and metrics repeat from
 * record to record and batch to batch, and a new string per occurrence was
 * garbage the service's collector paid for on every record.
 *
 * A direct-mapped table by FNV-1a hash of the bytes: a hit is checked
 * character by character, a miss (or a collision) makes the string and
 * takes the slot. Bounded: the table never holds more than `slots` strings.
 */
export class AsciiInterner {
  private readonly table: (string | undefined)[];
  private readonly mask: number;

  /** `slots`: a power of two. */
  constructor(slots = 4096) {
    this.table = new Array<string | undefined>(slots);
    this.mask = slots - 1;
  }

  /** bytes[start, end) as a string, or null when one of them is not ASCII. */
  get(bytes: Uint8Array, start: number, end: number): string | null {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) return null;
      h = Math.imul(h ^ c, 0x01000193);
    }
    const slot = h & this.mask;
    const s = this.table[slot];
    if (s !== undefined && s.length === end - start) {
      let i = 0;
      while (i < s.length && s.charCodeAt(i) === bytes[start + i]) i++;
      if (i === s.length) return s;
    }
    const made = latin1.decode(bytes.subarray(start, end));
    this.table[slot] = made;
    return made;
  }
}

// ASCII only reaches it, which every single-byte decoding reads alike.
const latin1 = new TextDecoder('latin1');
