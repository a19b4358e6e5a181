import { GATEWAY_ID_PATTERN, KIND_PATTERN, WIRE_LIMITS, WIRE_VERSION, type BatchRequest, type Lane, type WirePriority, type WireRecord } from './protocol-types.ts';
import { checkSequencing, parseBatch } from './protocol-parse.ts';
import { decodeCbor } from './protocol.ts';
import { AsciiInterner } from './ascii-interner.ts';

/**
 * An inflated batch body to a BatchRequest, as parseBatch(decodeCbor(body))
 * would give it, in one pass that builds only the records: the generic
 * path decodes every record into a map (a new string for each of its eight
 * keys), then parseRecord copies it. On the service that was the largest
 * cost per record after the database, most of it garbage collection.
 *
 * The fast path takes a batch as the uplink writes it (batch-encoder.ts)
 * or cbor-x does: definite lengths, integers of up to 32 bits or float64,
 * text keys, UTF-8 text, payloads as byte strings (RFC 8746 tag 64 or
 * not), every field valid. Anything else (another encoding, a field
 * missing, twice or out of range, trailing bytes) goes through decodeCbor
 * and parseBatch, which answer it or throw the precise WireError. So the
 * answer is the generic path's in every case (batch-decoder.test.ts
 * compares them).
 */
export function decodeBatch(body: Uint8Array): BatchRequest {
  return decodeBatchFast(body) ?? parseBatch(decodeCbor(body));
}

/** Anything the fast path does not take; decodeBatchFast answers null. Preallocated: falling back costs no stack trace. */
const NOT_FAST = new Error('not the fast shape');
const EMPTY = new Uint8Array(0);

/** The decoder's state: one body at a time, synchronously. */
let src: Uint8Array = EMPTY;
let view: DataView = new DataView(EMPTY.buffer, 0, 0);
let pos = 0;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const strings = new AsciiInterner();

/** The argument of a head with additional info `ai`, of up to four bytes. Eight-byte arguments are not taken: cbor-x decodes such integers as bigints. */
function argument(ai: number): number {
  if (ai < 24) return ai;
  let n: number;
  if (ai === 24 && pos + 1 <= src.length) n = src[pos++]!;
  else if (ai === 25 && pos + 2 <= src.length) {
    n = view.getUint16(pos);
    pos += 2;
  } else if (ai === 26 && pos + 4 <= src.length) {
    n = view.getUint32(pos);
    pos += 4;
  } else throw NOT_FAST;
  return n;
}

/** The length or count of an item of major type `major` (definite lengths only). */
function head(major: number): number {
  const ib = src[pos++];
  if (ib === undefined || ib >> 5 !== major) throw NOT_FAST;
  return argument(ib & 31);
}

/** An integer (major 0 or 1) or a float64, as a number. */
function number(): number {
  const ib = src[pos++];
  if (ib === undefined) throw NOT_FAST;
  if (ib < 0x20) return argument(ib & 31);
  if (ib < 0x40) return -1 - argument(ib & 31);
  if (ib !== 0xfb || pos + 8 > src.length) throw NOT_FAST;
  const v = view.getFloat64(pos);
  pos += 8;
  return v;
}

function integer(min: number, max: number): number {
  const n = number();
  if (!Number.isSafeInteger(n) || n < min || n > max) throw NOT_FAST;
  return n;
}

function finite(): number {
  const n = number();
  if (!Number.isFinite(n)) throw NOT_FAST;
  return n;
}

/** A text string of at most `maxLength` UTF-16 units. */
function text(maxLength: number): string {
  const n = head(3);
  if (n > src.length - pos) throw NOT_FAST;
  const start = pos;
  pos += n;
  let s = strings.get(src, start, pos);
  if (s === null) {
    try {
      s = utf8.decode(src.subarray(start, pos));
    } catch {
      throw NOT_FAST; // not UTF-8: left to cbor-x
    }
  }
  if (s.length > maxLength) throw NOT_FAST;
  return s;
}

/** Whether the text string at `pos` is `key` (ASCII, shorter than 24 bytes); moves past it when it is. */
function isKey(key: string): boolean {
  if (src[pos] !== 0x60 + key.length) return false;
  for (let i = 0; i < key.length; i++) if (src[pos + 1 + i] !== key.charCodeAt(i)) return false;
  pos += 1 + key.length;
  return true;
}

/** Which of `keys` the map key at `pos` is (the expected one tried first), moving past it. */
function keyOf(keys: readonly string[], expected: number): number {
  if (expected < keys.length && isKey(keys[expected]!)) return expected;
  for (let k = 0; k < keys.length; k++) if (isKey(keys[k]!)) return k;
  throw NOT_FAST;
}

/** In the order the uplink writes them (their property order, as cbor-x does too), which is tried first. */
const BATCH_KEYS = ['v', 'gatewayId', 'lane', 'firstSeq', 'lastSeq', 'skipped', 'records', 'sentAtMs'] as const;
const RECORD_KEYS = ['seq', 'kind', 'priority', 'series', 'tStart', 'tEnd', 'payload', 'replayed'] as const;
const ALL = 0xff;
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

/** The last kind that passed KIND_PATTERN: kinds repeat from record to record, and interned strings compare by identity first. */
let lastKind = '';

function kind(): string {
  const s = text(WIRE_LIMITS.maxKindLength);
  if (s !== lastKind) {
    if (!KIND_PATTERN.test(s)) throw NOT_FAST;
    lastKind = s;
  }
  return s;
}

function record(): WireRecord {
  if (head(5) !== RECORD_KEYS.length) throw NOT_FAST;
  let seen = 0;
  let seq = 0;
  let k = '';
  let priority = 0;
  let series = '';
  let tStart = 0;
  let tEnd = 0;
  let payload: Uint8Array = EMPTY;
  let replayed = false;
  for (let i = 0; i < RECORD_KEYS.length; i++) {
    const key = keyOf(RECORD_KEYS, i);
    if ((seen & (1 << key)) !== 0) throw NOT_FAST;
    seen |= 1 << key;
    switch (key) {
      case 0: seq = integer(1, SEQ_MAX); break;
      case 1: k = kind(); break;
      case 2: priority = integer(0, 2); break;
      case 3: series = text(WIRE_LIMITS.maxSeriesLength); break;
      case 4: tStart = finite(); break;
      case 5: tEnd = finite(); break;
      case 6: {
        // cbor-x tags a Uint8Array (not a Buffer) as RFC 8746 tag 64, uint8 typed array, and decodes both to the bytes.
        if (src[pos] === 0xd8 && src[pos + 1] === 64) pos += 2;
        const n = head(2);
        if (n > WIRE_LIMITS.maxPayloadBytes || n > src.length - pos) throw NOT_FAST;
        // A view, as cbor-x gives byte strings.
        payload = new Uint8Array(src.buffer, src.byteOffset + pos, n);
        pos += n;
        break;
      }
      default: {
        const b = src[pos++];
        if (b !== 0xf4 && b !== 0xf5) throw NOT_FAST;
        replayed = b === 0xf5;
      }
    }
  }
  if (seen !== ALL || tEnd < tStart) throw NOT_FAST;
  return { seq, kind: k, priority: priority as WirePriority, series, tStart, tEnd, payload, replayed };
}

/** The fast path; null when the body is not in the shape it takes. */
export function decodeBatchFast(body: Uint8Array): BatchRequest | null {
  src = body;
  view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  pos = 0;
  try {
    if (head(5) !== BATCH_KEYS.length) return null;
    let seen = 0;
    let gatewayId = '';
    let lane: Lane = 'ordered';
    let firstSeq = 0;
    let lastSeq = 0;
    let sentAtMs = 0;
    let skipped: [number, number][] = [];
    let records: WireRecord[] = [];
    for (let i = 0; i < BATCH_KEYS.length; i++) {
      const key = keyOf(BATCH_KEYS, i);
      if ((seen & (1 << key)) !== 0) return null;
      seen |= 1 << key;
      switch (key) {
        case 0: if (number() !== WIRE_VERSION) return null; break;
        case 1: gatewayId = text(64); if (!GATEWAY_ID_PATTERN.test(gatewayId)) return null; break;
        case 2: {
          const l = text(7);
          if (l !== 'ordered' && l !== 'live') return null;
          lane = l;
          break;
        }
        case 3: firstSeq = integer(1, SEQ_MAX); break;
        case 4: lastSeq = integer(1, SEQ_MAX); break;
        case 5: {
          const n = head(4);
          if (n > WIRE_LIMITS.maxSkippedRanges) return null;
          skipped = new Array<[number, number]>(n);
          for (let j = 0; j < n; j++) {
            if (head(4) !== 2) return null;
            skipped[j] = [integer(1, SEQ_MAX), integer(1, SEQ_MAX)];
          }
          break;
        }
        case 6: {
          const n = head(4);
          if (n > WIRE_LIMITS.maxRecords || n > src.length - pos) return null;
          records = new Array<WireRecord>(n);
          for (let j = 0; j < n; j++) records[j] = record();
          break;
        }
        default: sentAtMs = finite();
      }
    }
    if (seen !== ALL || pos !== src.length) return null;
    const batch: BatchRequest = { v: WIRE_VERSION, gatewayId, lane, firstSeq, lastSeq, skipped, records, sentAtMs };
    checkSequencing(batch); // the same rules, and the same E_SEQ_INVALID, as parseBatch
    return batch;
  } catch (e) {
    if (e === NOT_FAST) return null;
    throw e;
  } finally {
    src = EMPTY;
    view = new DataView(EMPTY.buffer, 0, 0);
  }
}
