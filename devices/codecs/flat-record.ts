/**
 * The flat data model shared by the `json` and `cbor` codecs: a sample is one
 * map `{ ts: <ms>, <metric>: <number>, ... }`, optionally with `deviceId`; a
 * payload is one sample or an array of samples (a device replaying its buffer
 * sends several). Only the byte encoding differs between the two codecs.
 */
import type { DecodeContext, DecodedReading, EncodeContext, OutReading } from '../codec.ts';
import { DecodeError, EncodeError } from '../errors.ts';

export const DEFAULT_TIME_FIELD = 'ts';
const DEVICE_FIELD = 'deviceId';
/** More samples than this in one payload is refused (bounded work per frame). */
export const MAX_SAMPLES = 10_000;

/** One sample: field → number, in insertion order (time field first). */
export type FlatSample = Record<string, number>;

/** Groups readings into samples by event time, in first-seen order. */
export function toFlatSamples(readings: readonly OutReading[], ctx: EncodeContext): FlatSample[] {
  const timeField = ctx.timeField ?? DEFAULT_TIME_FIELD;
  if (readings.length === 0) throw new EncodeError('nothing to encode');
  const times: (number | undefined)[] = [];
  const samples: FlatSample[] = [];
  for (const r of readings) {
    if (!Number.isFinite(r.value)) throw new EncodeError(`${r.metric}: value ${r.value} is not finite`);
    if (r.metric === timeField || r.metric === DEVICE_FIELD || r.metric === '__proto__') throw new EncodeError(`${r.metric}: clashes with a reserved field`);
    if (r.eventTime !== undefined && !Number.isFinite(r.eventTime)) throw new EncodeError(`${r.metric}: eventTime is not finite`);
    // Few distinct times per payload (usually one): a linear scan beats a Map here.
    let i = times.indexOf(r.eventTime);
    if (i < 0) {
      i = times.push(r.eventTime) - 1;
      const s: FlatSample = {};
      if (r.eventTime !== undefined) s[timeField] = r.eventTime;
      samples.push(s);
    }
    const s = samples[i];
    if (Object.hasOwn(s, r.metric)) throw new EncodeError(`${r.metric}: twice in one sample`);
    s[r.metric] = r.value === 0 ? 0 : r.value; // -0 → 0: JSON cannot carry -0, so no codec does
  }
  return samples;
}

/** Plain-object form of samples (for JSON.stringify / a CBOR encoder); one sample stays a bare object. */
export function flatToPlain(samples: readonly FlatSample[]): unknown {
  return samples.length === 1 ? samples[0] : samples;
}

/** Entries of a JSON object or a CBOR map whose keys must all be strings. */
function entriesOf(v: unknown, path: string): [string, unknown][] {
  if (v instanceof Map) {
    const out: [string, unknown][] = [];
    for (const [k, val] of v) {
      if (typeof k !== 'string') throw new DecodeError('E_DECODE_FIELD', path, `map key ${String(k)} is not a string`);
      out.push([k, val]);
    }
    return out;
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    return Object.entries(v);
  }
  throw new DecodeError('E_DECODE_FIELD', path, 'a sample must be a map of field → number');
}

function finiteNumber(v: unknown, path: string): number {
  if (typeof v !== 'number') {
    throw new DecodeError('E_DECODE_FIELD', path, `must be a number, got ${v === null ? 'null' : typeof v}`);
  }
  if (!Number.isFinite(v)) throw new DecodeError('E_DECODE_NONFINITE', path, `${v} is not a finite number`);
  return v;
}

/**
 * The common case without intermediate objects (the per-reading garbage is the ingest path's main
 * cost): one plain-object sample whose sender is known, with a valid event time (or none asked for)
 * and only finite numbers besides. Anything else returns null, and fromFlat's full path decodes it —
 * and names the exact problem.
 */
function fromPlainSample(sample: Record<string, unknown>, ctx: DecodeContext): DecodedReading[] | null {
  const deviceId = ctx.deviceId;
  const timeField = ctx.timeField;
  if (deviceId === undefined) return null;
  let eventTime: number | undefined;
  if (timeField !== undefined) {
    const t = sample[timeField];
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || !Object.hasOwn(sample, timeField)) return null;
    eventTime = t;
  }
  const out: DecodedReading[] = [];
  for (const k of Object.keys(sample)) {
    if (k === timeField) continue;
    const value = sample[k];
    if (k === DEVICE_FIELD || typeof value !== 'number' || !Number.isFinite(value)) return null;
    out.push(eventTime === undefined ? { deviceId, metric: k, value } : { deviceId, metric: k, value, eventTime });
  }
  return out.length === 0 ? null : out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** Decodes the parsed payload (object/Map or array of them) into readings. */
export function fromFlat(parsed: unknown, ctx: DecodeContext): DecodedReading[] {
  if (isPlainObject(parsed)) {
    const fast = fromPlainSample(parsed, ctx);
    if (fast !== null) return fast;
  }
  const samples = Array.isArray(parsed) ? parsed : [parsed];
  if (samples.length === 0) throw new DecodeError('E_DECODE_FIELD', '', 'empty array: no samples');
  if (samples.length > MAX_SAMPLES) throw new DecodeError('E_DECODE_FIELD', '', `more than ${MAX_SAMPLES} samples`);
  const timeField = ctx.timeField;
  const out: DecodedReading[] = [];
  samples.forEach((sample, i) => {
    const at = Array.isArray(parsed) ? `[${i}]` : '';
    const sep = at === '' ? '' : '.';
    let deviceId = ctx.deviceId;
    let eventTime: number | undefined;
    const metrics: [string, number][] = [];
    for (const [k, v] of entriesOf(sample, at)) {
      const path = `${at}${sep}${k}`;
      if (k === DEVICE_FIELD) {
        if (typeof v !== 'string' || v === '') throw new DecodeError('E_DECODE_FIELD', path, 'must be a non-empty string');
        if (ctx.deviceId !== undefined && v !== ctx.deviceId) {
          throw new DecodeError('E_DECODE_FIELD', path, `"${v}" does not match the sender "${ctx.deviceId}"`);
        }
        deviceId = v;
      } else if (timeField !== undefined && k === timeField) {
        eventTime = finiteNumber(v, path);
        if (eventTime < 0) throw new DecodeError('E_DECODE_FIELD', path, 'must be ms since the epoch (>= 0)');
      } else {
        metrics.push([k, finiteNumber(v, path)]);
      }
    }
    if (deviceId === undefined) throw new DecodeError('E_DECODE_FIELD', at, 'no device id (neither from the transport nor a deviceId field)');
    if (timeField !== undefined && eventTime === undefined) {
      throw new DecodeError('E_DECODE_FIELD', `${at}${sep}${timeField}`, 'missing event-time field');
    }
    if (metrics.length === 0) throw new DecodeError('E_DECODE_FIELD', at, 'sample has no metric values');
    for (const [metric, value] of metrics) {
      out.push(eventTime === undefined ? { deviceId, metric, value } : { deviceId, metric, value, eventTime });
    }
  });
  return out;
}
