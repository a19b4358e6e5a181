/**
 * The SenML data model (RFC 8428), shared by the JSON and CBOR encodings:
 * label tables, resolution of base fields into resolved records (§4.6), and
 * the mapping between weir readings and SenML records.
 *
 * weir convention: a record's resolved name is `<deviceId>:<metric>` (the
 * device id as base name `bn` ending in `:`, the metric as `n`), the style of
 * the RFC's own examples (`urn:dev:ow:10e2073a01080063:` + `temp`). A name
 * without `:` or `/` is a bare metric of the device the transport names.
 * SenML times are seconds; weir times are milliseconds.
 */
import type { DecodeContext, DecodedReading, EncodeContext, OutReading } from '../codec.ts';
import { DecodeError, EncodeError } from '../errors.ts';

/** RFC 8428 §4.1 / §4.2 labels, with their CBOR integer labels (§6, Table 4). */
export const SENML_LABELS = {
  bver: -1, bn: -2, bt: -3, bu: -4, bv: -5, bs: -6,
  n: 0, u: 1, v: 2, vs: 3, vb: 4, s: 5, t: 6, ut: 7, vd: 8,
} as const;

export type SenmlLabel = keyof typeof SENML_LABELS;

const LABEL_BY_CBOR = new Map<number, SenmlLabel>(
  (Object.entries(SENML_LABELS) as [SenmlLabel, number][]).map(([k, v]) => [v, k]),
);

const STRING_LABELS: ReadonlySet<SenmlLabel> = new Set(['bn', 'bu', 'n', 'u', 'vs', 'vd']);
const NUMBER_LABELS: ReadonlySet<SenmlLabel> = new Set(['bver', 'bt', 'bv', 'bs', 'v', 's', 't', 'ut']);

/** One parsed record: known labels only (unknown optional extensions are dropped). */
export type SenmlRecord = { [K in SenmlLabel]?: K extends 'vb' ? boolean : K extends 'bn' | 'bu' | 'n' | 'u' | 'vs' | 'vd' ? string : number };

/** §4.5.3: resolved times below 2**28 s are relative to "now". */
export const RELATIVE_TIME_LIMIT_S = 2 ** 28;
/** The SenML version this implementation understands (§4.1 bver defaults to 10). */
export const SENML_VERSION = 10;
/** More records than this in one pack is refused (bounded work per frame). */
export const MAX_RECORDS = 10_000;

/** §4.5.1: the resolved name's alphabet, starting with a letter or digit. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/;

/** Parses one record given as a JSON object (text labels) or a CBOR map (integer labels for §4.1/§4.2 fields). */
export function parseRecord(raw: unknown, path: string, cbor: boolean): SenmlRecord {
  let entries: [string | number, unknown][];
  if (raw instanceof Map) entries = [...raw.entries()] as [string | number, unknown][];
  else if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !ArrayBuffer.isView(raw)) entries = Object.entries(raw);
  else throw new DecodeError('E_DECODE_SENML', path, 'a SenML record must be a map');
  const rec: Record<string, unknown> = {};
  for (const [key, val] of entries) {
    let label: SenmlLabel | undefined;
    if (cbor && typeof key === 'number') label = LABEL_BY_CBOR.get(key);
    else if (!cbor && typeof key === 'string' && Object.hasOwn(SENML_LABELS, key)) label = key as SenmlLabel;
    if (label === undefined) {
      // §4.4: labels ending in "_" are must-understand; this implementation understands none.
      if (typeof key === 'string' && key.endsWith('_')) {
        throw new DecodeError('E_DECODE_SENML', `${path}.${key}`, 'unknown must-understand field (RFC 8428 §4.4)');
      }
      continue; // §4.4: other unknown fields are extensions and are ignored
    }
    const at = `${path}.${label}`;
    if (STRING_LABELS.has(label)) {
      if (typeof val !== 'string') throw new DecodeError('E_DECODE_FIELD', at, 'must be a string');
    } else if (NUMBER_LABELS.has(label)) {
      if (typeof val !== 'number') throw new DecodeError('E_DECODE_FIELD', at, 'must be a number');
      if (!Number.isFinite(val)) throw new DecodeError('E_DECODE_NONFINITE', at, `${val} is not a finite number`);
    } else if (typeof val !== 'boolean') {
      throw new DecodeError('E_DECODE_FIELD', at, 'must be a boolean');
    }
    rec[label] = val;
  }
  return rec as SenmlRecord;
}

/** Parses a pack: a non-empty array of records (§4.3 / §6). */
export function parsePack(raw: unknown, cbor: boolean): SenmlRecord[] {
  if (!Array.isArray(raw)) throw new DecodeError('E_DECODE_SENML', '', 'a SenML pack must be an array of records');
  if (raw.length === 0) throw new DecodeError('E_DECODE_SENML', '', 'empty SenML pack');
  if (raw.length > MAX_RECORDS) throw new DecodeError('E_DECODE_SENML', '', `more than ${MAX_RECORDS} records`);
  return raw.map((r, i) => parseRecord(r, `[${i}]`, cbor));
}

function splitName(name: string, path: string, ctx: DecodeContext): { deviceId: string; metric: string } {
  const cut = Math.max(name.lastIndexOf(':'), name.lastIndexOf('/'));
  const metric = name.slice(cut + 1);
  if (metric === '') throw new DecodeError('E_DECODE_FIELD', path, `name "${name}" names no metric`);
  const fromName = cut < 0 ? undefined : name.slice(0, cut);
  if (fromName !== undefined && ctx.deviceId !== undefined && fromName !== ctx.deviceId) {
    throw new DecodeError('E_DECODE_FIELD', path, `device "${fromName}" in the name does not match the sender "${ctx.deviceId}"`);
  }
  const deviceId = fromName ?? ctx.deviceId;
  if (deviceId === undefined) throw new DecodeError('E_DECODE_FIELD', path, `name "${name}" carries no device id and the transport gave none`);
  return { deviceId, metric };
}

/**
 * Resolves a pack into weir readings (RFC 8428 §4.6): base fields apply to
 * their own record and every later one until replaced; name = bn + n (§4.5.1),
 * time = bt + t (§4.5.3), value = bv + v (§4.5.4).
 */
export function resolvePack(records: readonly SenmlRecord[], ctx: DecodeContext): DecodedReading[] {
  let bn = '';
  let bt = 0;
  let bv = 0;
  const out: DecodedReading[] = [];
  records.forEach((r, i) => {
    const path = `[${i}]`;
    if (r.bver !== undefined && (!Number.isInteger(r.bver) || r.bver < 1 || r.bver > SENML_VERSION)) {
      // §4.1 bver: a positive integer; a later version than we understand cannot be processed safely.
      throw new DecodeError('E_DECODE_SENML', `${path}.bver`, `unsupported SenML version ${r.bver}`);
    }
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bv !== undefined) bv = r.bv;
    const hasValue = r.v !== undefined || r.vs !== undefined || r.vb !== undefined || r.vd !== undefined;
    if (!hasValue) {
      // §4.2: a Value is required unless a Sum is present. A record of base fields only sets context.
      if (r.s !== undefined) return; // a sum alone is not a reading weir keeps
      if (r.n !== undefined || r.t !== undefined) throw new DecodeError('E_DECODE_SENML', path, 'record has neither a value nor a sum (RFC 8428 §4.2)');
      return;
    }
    if (r.v === undefined) throw new DecodeError('E_DECODE_FIELD', path, 'only numeric values (v) are supported, not vs/vb/vd');
    const name = bn + (r.n ?? '');
    if (!NAME_RE.test(name)) throw new DecodeError('E_DECODE_SENML', `${path}.n`, `resolved name "${name}" breaks RFC 8428 §4.5.1`);
    const { deviceId, metric } = splitName(name, `${path}.n`, ctx);
    const value = bv + r.v;
    if (!Number.isFinite(value)) throw new DecodeError('E_DECODE_NONFINITE', `${path}.v`, 'bv + v is not finite');
    const timeS = bt + (r.t ?? 0);
    let eventTime: number | undefined;
    if (Math.abs(timeS) >= RELATIVE_TIME_LIMIT_S) {
      if (timeS < 0) throw new DecodeError('E_DECODE_FIELD', `${path}.t`, 'absolute time before the epoch');
      eventTime = Math.round(timeS * 1000);
    } else if (ctx.arrivalTime !== undefined) {
      eventTime = ctx.arrivalTime + Math.round(timeS * 1000); // §4.5.3 relative to "now" = arrival
    }
    out.push(eventTime === undefined ? { deviceId, metric, value } : { deviceId, metric, value, eventTime });
  });
  if (out.length === 0) throw new DecodeError('E_DECODE_SENML', '', 'pack holds no measurement');
  return out;
}

/**
 * Readings → SenML records: `bn` = `<deviceId>:`, `bt` = the first reading's
 * time (s), each record `n`, `u`, `v` and `t` relative to `bt` when it differs.
 * Readings without eventTime carry no time (a resolver reads them as "now").
 */
export function toRecords(readings: readonly OutReading[], ctx: EncodeContext): SenmlRecord[] {
  if (readings.length === 0) throw new EncodeError('nothing to encode');
  if (!NAME_RE.test(ctx.deviceId)) throw new EncodeError(`device id "${ctx.deviceId}" is not a valid SenML name (RFC 8428 §4.5.1)`);
  const base = readings[0].eventTime;
  return readings.map((r, i) => {
    if (!Number.isFinite(r.value)) throw new EncodeError(`${r.metric}: value ${r.value} is not finite`);
    if (!/^[A-Za-z0-9\-._]+$/.test(r.metric)) throw new EncodeError(`${r.metric}: not usable as a SenML name part`);
    const rec: SenmlRecord = {};
    if (i === 0) {
      rec.bn = `${ctx.deviceId}:`;
      if (base !== undefined) rec.bt = base / 1000;
    }
    rec.n = r.metric;
    if (r.unit !== undefined) rec.u = r.unit;
    rec.v = r.value === 0 ? 0 : r.value; // -0 → 0, as the flat codecs do
    if (r.eventTime !== undefined && base !== undefined && r.eventTime !== base) rec.t = (r.eventTime - base) / 1000;
    if ((r.eventTime === undefined) !== (base === undefined)) throw new EncodeError('readings mix timed and untimed values');
    return rec;
  });
}

/** Records as CBOR maps with integer labels (§6). */
export function recordsToCborMaps(records: readonly SenmlRecord[]): Map<number, unknown>[] {
  return records.map((r) => {
    const m = new Map<number, unknown>();
    for (const [k, v] of Object.entries(r)) m.set(SENML_LABELS[k as SenmlLabel], v);
    return m;
  });
}
