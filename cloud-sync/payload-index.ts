import { AsciiInterner } from './ascii-interner.ts';

/**
 * The columns the store indexes a record by (pipeline, device, metric),
 * read from its payload without decoding it: one walk over the CBOR
 * (RFC 8949) that materializes only those strings and steps over every
 * other value. Decoding each payload into objects (payloads.ts) to read
 * three strings cost more than all the rest of a batch's handling in the
 * service, and most of its garbage.
 *
 * The rule is the one payloads.ts states for the shapes: a payload is
 * indexed when it is exactly one well-formed CBOR map whose `type` is the
 * record's kind; a field counts when it is a text string of at most 256
 * characters; of duplicate keys the last wins. Anything else gives nulls,
 * and the record is stored all the same.
 */
export interface RecordIndex {
  readonly pipeline: string | null;
  readonly deviceId: string | null;
  readonly metric: string | null;
}

const NONE: RecordIndex = { pipeline: null, deviceId: null, metric: null };
const MAX_FIELD_LENGTH = 256;
/** Deeper nesting is refused rather than walked (a hostile payload could otherwise exhaust the stack). */
const MAX_DEPTH = 64;

/** Thrown inside the walk only (preallocated: a malformed payload costs no stack trace); indexRecord catches it. */
const MALFORMED = new Error('malformed CBOR');

/** The scan's state: one payload at a time, synchronously, so module state saves an object per record. */
const EMPTY = new Uint8Array(0);
let src: Uint8Array = EMPTY;
let pos = 0;

const textDecoder = new TextDecoder();
const strings = new AsciiInterner();

/** Bytes that follow an initial byte with additional info `ai` (RFC 8949 §3); -1 for an indefinite length. */
function argumentBytes(ai: number): number {
  if (ai < 24) return 0;
  switch (ai) {
    case 24: return 1;
    case 25: return 2;
    case 26: return 4;
    case 27: return 8;
    case 31: return -1;
    default: throw MALFORMED; // 28-30 are reserved
  }
}

/** The length argument of the head whose initial byte was just read; -1 for an indefinite length. Never past the payload's end. */
function length(ib: number): number {
  const ai = ib & 31;
  let n: number;
  switch (argumentBytes(ai)) {
    case 0: return ai;
    case -1: return -1;
    case 1: n = src[pos]!; break;
    case 2: n = (src[pos]! << 8) | src[pos + 1]!; break;
    case 4: n = ((src[pos]! << 24) >>> 0) + ((src[pos + 1]! << 16) | (src[pos + 2]! << 8) | src[pos + 3]!); break;
    default: n = src[pos]! | src[pos + 1]! | src[pos + 2]! | src[pos + 3]! ? Infinity : ((src[pos + 4]! << 24) >>> 0) + ((src[pos + 5]! << 16) | (src[pos + 6]! << 8) | src[pos + 7]!);
  }
  pos += argumentBytes(ai);
  if (pos > src.length || n > src.length - pos) throw MALFORMED; // a string's bytes, or an array's or map's items (one byte each at least)
  return n;
}

/** Steps over one data item. */
function skip(depth: number): void {
  if (pos >= src.length || depth > MAX_DEPTH) throw MALFORMED;
  const ib = src[pos++]!;
  const major = ib >> 5;
  if (major === 0 || major === 1 || major === 6 || major === 7) {
    const k = argumentBytes(ib & 31);
    if (k < 0) throw MALFORMED; // no indefinite integers or tags; a break outside an indefinite item
    pos += k;
    if (pos > src.length) throw MALFORMED;
    if (major === 6) skip(depth + 1); // the tagged item
    return;
  }
  const n = length(ib);
  if (major === 2 || major === 3) {
    if (n >= 0) {
      pos += n;
      return;
    }
    // RFC 8949 §3.2.3: definite-length chunks of the same major type, then a break.
    while (src[pos] !== 0xff) {
      if (pos >= src.length || src[pos]! >> 5 !== major || (src[pos]! & 31) === 31) throw MALFORMED;
      skip(depth + 1);
    }
    pos++;
    return;
  }
  const items = major === 5 ? 2 : 1;
  if (n >= 0) {
    for (let i = 0; i < n * items; i++) skip(depth + 1);
  } else {
    while (src[pos] !== 0xff) for (let i = 0; i < items; i++) skip(depth + 1);
    pos++;
  }
}

/** The next item as a string when it is a text string of at most MAX_FIELD_LENGTH characters, else null (stepped over). */
function field(depth: number): string | null {
  const ib = src[pos];
  if (ib === undefined || ib >> 5 !== 3 || (ib & 31) === 31) {
    skip(depth);
    return null;
  }
  pos++;
  const n = length(ib);
  const start = pos;
  pos += n;
  // UTF-8 takes at least as many bytes as UTF-16 has units, so a string of at most MAX_FIELD_LENGTH bytes is within the limit.
  if (n <= MAX_FIELD_LENGTH) return strings.get(src, start, pos) ?? textDecoder.decode(src.subarray(start, pos));
  const s = textDecoder.decode(src.subarray(start, pos));
  return s.length <= MAX_FIELD_LENGTH ? s : null;
}

/** Whether the item at `pos` is the text string `key` (ASCII, shorter than 24); moves past it when it is. */
function isKey(key: string): boolean {
  const ib = src[pos];
  if (ib !== 0x60 + key.length) return false;
  for (let i = 0; i < key.length; i++) if (src[pos + 1 + i] !== key.charCodeAt(i)) return false;
  pos += 1 + key.length;
  return true;
}

/** The entry count of the map at `pos` (moving past its head), -1 for an indefinite length; null when the item is no map. */
function mapHead(): number | null {
  const ib = src[pos];
  if (ib === undefined || ib >> 5 !== 5) return null;
  pos++;
  return length(ib);
}

/** Whether the entries of a map whose head gave `n` go on at `pos` after `i` of them. */
function more(n: number, i: number): boolean {
  if (n >= 0) return i < n;
  if (src[pos] !== 0xff) return true;
  pos++;
  return false;
}

/** What the walk found: the top-level fields, and those of the maps under `key` and `reading`. */
let type: string | null = null;
let pipeline: string | null = null;
let deviceId: string | null = null;
let metric: string | null = null;
let keyDeviceId: string | null = null;
let keyMetric: string | null = null;
let readingDeviceId: string | null = null;
let readingMetric: string | null = null;

/** The `deviceId` and `metric` of the map at `pos` (nulls when the item is no map), into the key's fields or the reading's. */
function place(depth: number, into: 'key' | 'reading'): void {
  let d: string | null = null;
  let m: string | null = null;
  const n = mapHead();
  if (n === null) skip(depth);
  else {
    for (let i = 0; more(n, i); i++) {
      if (isKey('deviceId')) d = field(depth + 1);
      else if (isKey('metric')) m = field(depth + 1);
      else {
        skip(depth + 1);
        skip(depth + 1);
      }
    }
  }
  if (into === 'key') {
    keyDeviceId = d;
    keyMetric = m;
  } else {
    readingDeviceId = d;
    readingMetric = m;
  }
}

/** Walks the payload into the fields above; false when it is not one well-formed map. */
function walk(): boolean {
  type = pipeline = deviceId = metric = keyDeviceId = keyMetric = readingDeviceId = readingMetric = null;
  try {
    const n = mapHead();
    if (n === null) return false;
    for (let i = 0; more(n, i); i++) {
      if (isKey('type')) type = field(2);
      else if (isKey('pipeline')) pipeline = field(2);
      else if (isKey('deviceId')) deviceId = field(2);
      else if (isKey('metric')) metric = field(2);
      else if (isKey('key')) place(2, 'key');
      else if (isKey('reading')) place(2, 'reading');
      else {
        skip(2);
        skip(2);
      }
    }
    return pos === src.length; // trailing bytes: not one CBOR item
  } catch {
    return false; // malformed, truncated or too deep
  }
}

export function indexRecord(kind: string, payload: Uint8Array): RecordIndex {
  if (kind !== 'window' && kind !== 'anomaly' && kind !== 'late') return NONE;
  src = payload;
  pos = 0;
  const ok = walk();
  src = EMPTY;
  if (!ok || type !== kind) return NONE;
  switch (kind) {
    case 'window':
      return { pipeline, deviceId: keyDeviceId, metric: keyMetric };
    case 'anomaly':
      return { pipeline, deviceId, metric };
    case 'late':
      return { pipeline, deviceId: readingDeviceId ?? keyDeviceId, metric: readingMetric ?? keyMetric };
  }
}
