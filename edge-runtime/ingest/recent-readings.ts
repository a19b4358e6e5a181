/**
 * The identities of the last N readings accepted, to recognise a redelivered
 * reading (MQTT QoS 1 is at-least-once [MQTT-4.3.2]; a device re-sends a
 * PUBLISH whose PUBACK it never saw, and after a gateway crash no broker
 * state survives to tell). A reading's identity is (deviceId, metric,
 * eventTime), like a time-series database's point key: a second reading with
 * the same identity is a duplicate whatever its value (first value wins).
 *
 * The horizon counts readings, not time: a redelivery is recognised while
 * fewer than N other readings were accepted since its original. In time
 * that is N / (readings per second of the whole gateway): 131,072 at 100/s
 * is 22 minutes, at 10,000/s 13 seconds. Time the gateway is down does not
 * use it up (the table is rebuilt from the log's tail at start, see
 * recent-readings-from-log.ts); other devices' traffic does. Beyond the
 * horizon a redelivery is logged again, as without de-duplication.
 *
 * Bounded memory, O(1) per reading, no strings kept: each identity is
 * reduced to two independent 32-bit hashes (a murmur3-style and an
 * xxhash32-style mix over the same injective encoding: length-prefixed
 * UTF-16 of deviceId and metric, then the 64 bits of eventTime), held in an
 * open-addressing table (linear probing, load ≤ 1/2, backward-shift
 * deletion) over typed arrays. Insertion order is a FIFO ring of
 * `capacity` positions: entry number t (its "ticket") sits at position
 * t mod capacity, so inserting ticket t evicts ticket t − capacity.
 *
 * No string is compared, so a hash collision would make a new reading look
 * like a duplicate and drop it. Two 32-bit hashes give ~2^-64 per pair: a
 * new reading falsely matches one of N = 131,072 remembered ones with
 * probability N / 2^64 ≈ 7·10^-15; over 10^12 readings that is < 1 %.
 * (One 32-bit hash would already collide ~1,000 times among 3 million
 * identities — recent-readings.test.ts shows both.)
 *
 * Memory: 16 bytes per table slot (2 × capacity rounded up to a power of 2),
 * h1, h2 and the ticket side by side so that a probe touches one cache line,
 * + 4 bytes per ring position: 4.5 MiB for the default 131,072.
 */
export class RecentReadings {
  readonly capacity: number;
  private readonly mask: number;
  /** Slot i: h1 at [4i], h2 at [4i + 1] … */
  private readonly words: Uint32Array;
  /** … and its entry's ticket at [2i + 1] (the same bytes); −1 = empty. Float64: tickets count every insert ever (exact to 2^53). */
  private readonly tickets: Float64Array;
  /** Slot of the live entry whose ticket maps to each ring position; −1 = evicted or removed. */
  private readonly ringSlot: Int32Array;
  private nextTicket = 0;
  private live = 0;
  private h1 = 0;
  private h2 = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`capacity must be a whole number in [1, ${MAX_CAPACITY}], got ${capacity}`);
    }
    this.capacity = capacity;
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.mask = size - 1;
    const buf = new ArrayBuffer(size * 16);
    this.words = new Uint32Array(buf);
    this.tickets = new Float64Array(buf);
    for (let i = 0; i < size; i++) this.tickets[2 * i + 1] = -1;
    this.ringSlot = new Int32Array(capacity).fill(-1);
  }

  /** Identities remembered now (≤ capacity). */
  get size(): number {
    return this.live;
  }

  /** Bytes of the typed arrays. */
  get bytes(): number {
    return this.words.byteLength + this.ringSlot.byteLength;
  }

  /**
   * Remembers the identity unless it is already remembered. Returns its new
   * ticket (≥ 0) when it was not, else −1 − the ticket of the entry already
   * there (< 0). Evicts the oldest entry when `capacity` were inserted since it.
   */
  admit(deviceId: string, metric: string, eventTime: number): number {
    this.hash(deviceId, metric, eventTime);
    const found = this.find();
    if (found >= 0) return -1 - this.tickets[2 * found + 1]!;
    const t = this.nextTicket++;
    const pos = t % this.capacity;
    // Evict first: a backward shift may open a hole on this identity's probe path, so probe again after it.
    const old = this.ringSlot[pos]!;
    if (old >= 0) this.deleteSlot(old);
    let i = this.h1 & this.mask;
    while (this.tickets[2 * i + 1]! >= 0) i = (i + 1) & this.mask;
    this.words[4 * i] = this.h1;
    this.words[4 * i + 1] = this.h2;
    this.tickets[2 * i + 1] = t;
    this.ringSlot[pos] = i;
    this.live++;
    return t;
  }

  /** The ticket of the identity if remembered, else −1 (does not insert). */
  ticketOf(deviceId: string, metric: string, eventTime: number): number {
    this.hash(deviceId, metric, eventTime);
    const i = this.find();
    return i < 0 ? -1 : this.tickets[2 * i + 1]!;
  }

  /** Forgets the entry with this ticket (its append failed: a redelivery must be taken afresh). False if it is gone already. */
  remove(ticket: number): boolean {
    if (!(ticket >= 0)) return false;
    const s = this.ringSlot[ticket % this.capacity]!;
    if (s < 0 || this.tickets[2 * s + 1] !== ticket) return false;
    this.deleteSlot(s);
    return true;
  }

  /** The two 32-bit hashes of an identity (for tests of their quality). */
  hashPair(deviceId: string, metric: string, eventTime: number): [number, number] {
    this.hash(deviceId, metric, eventTime);
    return [this.h1, this.h2];
  }

  private find(): number {
    const { h1, h2, mask } = this;
    const { words, tickets } = this;
    let i = h1 & mask;
    while (tickets[2 * i + 1]! >= 0) {
      if (words[4 * i] === h1 && words[4 * i + 1] === h2) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** Empties slot i and shifts the rest of its cluster back so that every probe path stays unbroken (no tombstones). */
  private deleteSlot(i: number): void {
    const { mask, words, tickets } = this;
    this.ringSlot[tickets[2 * i + 1]! % this.capacity] = -1;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const t = tickets[2 * j + 1]!;
      if (t < 0) break;
      const home = words[4 * j]! & mask;
      // The entry at j may fill the hole when the hole lies on its probe path: home … hole … j (cyclically).
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        words[4 * hole] = words[4 * j]!;
        words[4 * hole + 1] = words[4 * j + 1]!;
        tickets[2 * hole + 1] = t;
        this.ringSlot[t % this.capacity] = hole;
        hole = j;
      }
    }
    tickets[2 * hole + 1] = -1;
    this.live--;
  }

  /** Sets h1, h2 for the identity: length-prefixed deviceId and metric (2 UTF-16 units a word), then eventTime's 64 bits. */
  private hash(deviceId: string, metric: string, eventTime: number): void {
    this.h1 = SEED1;
    this.h2 = SEED2;
    this.mixString(deviceId);
    this.mixString(metric);
    F64[0] = eventTime + 0; // −0 → 0: one identity, one encoding
    this.h1 = fmixM3(m3(m3(this.h1, U32[0]!), U32[1]!));
    this.h2 = fmixXx(xx(xx(this.h2, U32[0]!), U32[1]!));
  }

  private mixString(s: string): void {
    const n = s.length;
    let a = m3(this.h1, n);
    let b = xx(this.h2, n);
    let k = 0;
    for (; k + 1 < n; k += 2) {
      const w = s.charCodeAt(k) | (s.charCodeAt(k + 1) << 16);
      a = m3(a, w);
      b = xx(b, w);
    }
    if (k < n) {
      const w = s.charCodeAt(k);
      a = m3(a, w);
      b = xx(b, w);
    }
    this.h1 = a;
    this.h2 = b;
  }
}

/** 2^24 identities: 576 MiB. More would not fit a gateway's memory anyway. */
export const MAX_CAPACITY = 1 << 24;

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const SEED1 = 0x2f6b3c91;
const SEED2 = 0x7a1d4e05;

/** MurmurHash3 x86_32 body step. */
function m3(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmixM3(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** xxHash32 round (other primes, other rotation: an independent function of the same words). */
function xx(acc: number, k: number): number {
  acc = (acc + Math.imul(k, 0x85ebca77)) | 0;
  acc = (acc << 13) | (acc >>> 19);
  return Math.imul(acc, 0x9e3779b1);
}

function fmixXx(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae3d);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Whether a reading carries an identity of its own. One whose event time is
 * its arrival time (a profile that takes arrival time, a SenML pack with
 * relative time 0) does not: a redelivery arrives at another time anyway,
 * and two different readings arriving in the same millisecond would look
 * like one. Those are never de-duplicated. (The cost: a device whose own
 * clock stamps exactly the arrival millisecond is not de-duplicated either.)
 */
export function hasOwnIdentity(r: { readonly eventTime: number; readonly arrivalTime: number }): boolean {
  return r.eventTime !== r.arrivalTime;
}
