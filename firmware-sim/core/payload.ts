/**
 * Turns a sample into the bytes the firmware sends, with the profile's codec,
 * and — when asked (`--bad-rate`) — into malformed bytes of the kinds real
 * gateways meet: truncated frames, line noise, a value sent as a string, a
 * NaN/overflowing number, an empty payload. Every malformed payload is one
 * the `devices/` codec rejects with a DecodeError (tested in payload.test.ts).
 */
import type { DeviceProfile, OutReading } from '../../devices/index.ts';
import { codecFor } from '../../devices/index.ts';
import type { Prng } from './prng.ts';
import { SimError } from './sim-error.ts';

export const MALFORMED_KINDS = ['truncated', 'garbage', 'string_value', 'nonfinite', 'empty'] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

/** A value no real reading has; its encoding is found and patched to corrupt a payload. */
const SENTINEL = 7777777.5;
/** CBOR float64 (major type 7, additional info 27) of a number. */
function cborF64(v: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = 0xfb;
  new DataView(out.buffer).setFloat64(1, v);
  return out;
}
const SENTINEL_F64 = cborF64(SENTINEL);
const NAN_F64 = cborF64(Number.NaN);
const enc = new TextEncoder();

export interface TimedReading {
  readonly metric: string;
  readonly value: number;
  /** The timestamp the device reports (device clock), when the profile carries one. */
  readonly eventTime?: number;
}

function outReadings(profile: DeviceProfile, readings: readonly TimedReading[]): OutReading[] {
  const withTime = profile.eventTime.source !== 'arrival';
  return readings.map((r) => ({
    metric: r.metric,
    value: r.value,
    unit: profile.metrics[r.metric].unit,
    ...(withTime && r.eventTime !== undefined ? { eventTime: r.eventTime } : {}),
  }));
}

export function encodePayload(profile: DeviceProfile, deviceId: string, readings: readonly TimedReading[]): Uint8Array {
  const timeField = profile.eventTime.source === 'payload' ? profile.eventTime.field : undefined;
  return codecFor(profile.codec).encode(outReadings(profile, readings), { deviceId, ...(timeField === undefined ? {} : { timeField }) });
}

function replaceBytes(hay: Uint8Array, needle: Uint8Array, by: Uint8Array): Uint8Array {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    const out = new Uint8Array(hay.length - needle.length + by.length);
    out.set(hay.subarray(0, i));
    out.set(by, i);
    out.set(hay.subarray(i + needle.length), i + by.length);
    return out;
  }
  throw new SimError('E_SIM_INTERNAL', 'sentinel not found in payload');
}

/** Malformed bytes of the given kind for this sample. */
export function malformedPayload(
  profile: DeviceProfile,
  deviceId: string,
  readings: readonly TimedReading[],
  kind: MalformedKind,
  rng: Prng,
): Uint8Array {
  const textual = profile.codec === 'json' || profile.codec === 'senml-json';
  switch (kind) {
    case 'empty':
      return new Uint8Array(0);
    case 'garbage': {
      const out = new Uint8Array(8 + rng.int(24));
      for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
      out[0] = 0xff; // neither JSON text nor a CBOR data item can start with 0xff
      return out;
    }
    case 'truncated': {
      const full = encodePayload(profile, deviceId, readings);
      return full.subarray(0, Math.max(1, Math.floor(full.length * rng.range(0.2, 0.8))));
    }
    case 'string_value':
    case 'nonfinite': {
      const poisoned = readings.map((r, i) => (i === 0 ? { ...r, value: SENTINEL } : r));
      const full = encodePayload(profile, deviceId, poisoned);
      if (textual) return replaceBytes(full, enc.encode(String(SENTINEL)), enc.encode(kind === 'nonfinite' ? '1e999' : `"${SENTINEL}"`));
      const str = Uint8Array.of(0x69, ...enc.encode(String(SENTINEL))); // CBOR text string of 9 bytes
      return replaceBytes(full, SENTINEL_F64, kind === 'nonfinite' ? NAN_F64 : str);
    }
  }
}
