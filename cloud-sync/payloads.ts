import { Decoder } from 'cbor-x';

/**
 * The payloads inside outbox records, as the cloud reads them. The edge
 * writes them (engine/outputs.ts, state/window-merge.ts); cloud-sync does
 * not import edge-runtime/, so the shapes it relies on are restated here,
 * loosely: a payload that does not match is stored anyway (it is the
 * gateway's own data) and left out of queries that need its fields. The
 * columns records are indexed by are read without decoding
 * (payload-index.ts).
 *
 * - kind 'window':  { type: 'window', pipeline, key, start, end, version, count, values,
 *                     index?, partial?, retracts?, merged?: { windows, inexact } }
 * - kind 'anomaly': { type: 'anomaly', pipeline, key, deviceId, metric, eventTime, score, detector, reason, expected?, observed }
 * - kind 'late':    { type: 'late', pipeline, key, reading: { deviceId, metric, value, eventTime, ... }, watermark, missedWindows }
 * - kind 'degrade': { type: 'degrade', atMs, totals, removedSeqs }
 */
export interface WindowPayload {
  readonly type: 'window';
  readonly pipeline: string;
  readonly key: Readonly<Record<string, string>>;
  readonly start: number;
  readonly end: number;
  readonly version: number;
  readonly count: number;
  readonly values: Readonly<Record<string, number | null>>;
  readonly index?: number;
  readonly partial?: boolean;
  readonly retracts?: readonly { readonly start: number; readonly end: number; readonly version: number }[];
  readonly merged?: { readonly windows: number; readonly inexact: readonly string[] };
}

export interface AnomalyPayload {
  readonly type: 'anomaly';
  readonly pipeline: string;
  readonly key: Readonly<Record<string, string>>;
  readonly deviceId: string;
  readonly metric: string;
  readonly eventTime: number;
  readonly score: number;
  readonly detector: string;
  readonly reason: string;
  readonly expected?: number | readonly [number, number];
  readonly observed: number;
}

const decoder = new Decoder({ mapsAsObjects: true, useRecords: false });

function decode(payload: Uint8Array): Record<string, unknown> | null {
  try {
    const v = decoder.decode(payload) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype
      ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): v is number => typeof v === 'number';

export function decodeWindow(payload: Uint8Array): WindowPayload | null {
  const o = decode(payload);
  if (o === null || o.type !== 'window' || typeof o.pipeline !== 'string' || typeof o.key !== 'object' || o.key === null ||
      !num(o.start) || !num(o.end) || !num(o.version) || !num(o.count) || typeof o.values !== 'object' || o.values === null) {
    return null;
  }
  return o as unknown as WindowPayload;
}

export function decodeAnomaly(payload: Uint8Array): AnomalyPayload | null {
  const o = decode(payload);
  if (o === null || o.type !== 'anomaly' || typeof o.pipeline !== 'string' || !num(o.eventTime) || !num(o.score)) return null;
  return o as unknown as AnomalyPayload;
}

/** Any payload as plain data for a JSON answer (byte strings as base64), or null when it is not CBOR. */
export function decodeAny(payload: Uint8Array): unknown {
  try {
    return decoder.decode(payload) as unknown;
  } catch {
    return null;
  }
}
