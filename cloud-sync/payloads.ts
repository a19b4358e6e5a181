import { Decoder } from 'cbor-x';

/**
 * The payloads inside outbox records, as the cloud reads them. The edge
 * writes them (engine/outputs.ts, state/window-merge.ts); cloud-sync does
 * not import edge-runtime/, so the shapes it relies on are restated here,
 * loosely: a payload that does not match is stored anyway (it is the
 * gateway's own data) and left out of queries that need its fields.
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

/** Columns the store indexes a record by; null when the payload does not say. */
export interface RecordIndex {
  readonly pipeline: string | null;
  readonly deviceId: string | null;
  readonly metric: string | null;
}

const decoder = new Decoder({ mapsAsObjects: true, useRecords: false });
const NONE: RecordIndex = { pipeline: null, deviceId: null, metric: null };

function decode(payload: Uint8Array): Record<string, unknown> | null {
  try {
    const v = decoder.decode(payload) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype
      ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const s = (v: unknown): string | null => (typeof v === 'string' && v.length <= 256 ? v : null);

function keyField(o: Record<string, unknown>, name: string): string | null {
  const k = o.key;
  return typeof k === 'object' && k !== null ? s((k as Record<string, unknown>)[name]) : null;
}

export function indexRecord(kind: string, payload: Uint8Array): RecordIndex {
  if (kind !== 'window' && kind !== 'anomaly' && kind !== 'late') return NONE;
  const o = decode(payload);
  if (o === null || o.type !== kind) return NONE;
  const pipeline = s(o.pipeline);
  switch (kind) {
    case 'window':
      return { pipeline, deviceId: keyField(o, 'deviceId'), metric: keyField(o, 'metric') };
    case 'anomaly':
      return { pipeline, deviceId: s(o.deviceId), metric: s(o.metric) };
    case 'late': {
      const r = o.reading;
      const reading = typeof r === 'object' && r !== null ? (r as Record<string, unknown>) : {};
      return { pipeline, deviceId: s(reading.deviceId) ?? keyField(o, 'deviceId'), metric: s(reading.metric) ?? keyField(o, 'metric') };
    }
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
