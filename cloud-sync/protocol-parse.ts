import {
  GATEWAY_ID_PATTERN, KIND_PATTERN, WIRE_LIMITS, WIRE_VERSION, WireError, isWireErrorCode,
  type BatchAck, type BatchRequest, type CheckpointAck, type CheckpointSnapshot, type ErrorBody, type GatewaySyncStatus,
  type HeartbeatAck, type HeartbeatBody, type WireErrorCode, type WirePriority, type WireRecord,
} from './protocol-types.ts';

/**
 * Strict parsers for every body of the wire contract (decoded CBOR or
 * JSON in, typed value out, WireError with a stable code otherwise):
 * exact field sets, types and ranges, the version checked first, plain
 * objects only (a map whose `__proto__` key replaced its prototype is
 * refused), and the in-batch sequencing rules. Import them through
 * protocol.ts.
 */
type Obj = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new WireError('E_INVALID', `${path}: ${what}`);
}

/** A plain object (not a Map, Date, array, or an object whose prototype a `__proto__` key replaced) with only the given keys. */
function record(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) fail(path, 'expected a map');
  const o = v as Obj;
  for (const k of required) if (!Object.hasOwn(o, k)) fail(`${path}.${k}`, 'missing');
  for (const k of Object.keys(o)) if (!required.includes(k) && !optional.includes(k)) fail(`${path}.${k}`, 'unknown field');
  return o;
}

function int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  // cbor-x decodes 64-bit integers as bigint; accept those in the safe range.
  const n = typeof v === 'bigint' && v >= BigInt(min) && v <= BigInt(max) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) fail(path, `expected an integer in [${min}, ${max}]`);
  return n;
}

function finite(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'expected a finite number');
  return v;
}

function str(v: unknown, path: string, maxLength: number, pattern?: RegExp): string {
  if (typeof v !== 'string' || v.length > maxLength || (pattern !== undefined && !pattern.test(v))) fail(path, `expected a string of at most ${maxLength} characters${pattern ? ` matching ${pattern}` : ''}`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'expected a boolean');
  return v;
}

function bytes(v: unknown, path: string, maxLength: number): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(path, 'expected a byte string');
  if (v.byteLength > maxLength) throw new WireError('E_TOO_LARGE', `${path}: ${v.byteLength} bytes, at most ${maxLength}`);
  return v;
}

function array(v: unknown, path: string, maxLength: number): readonly unknown[] {
  if (!Array.isArray(v)) fail(path, 'expected an array');
  if (v.length > maxLength) throw new WireError('E_TOO_LARGE', `${path}: ${v.length} items, at most ${maxLength}`);
  return v;
}

/** A fixed-length array: a wrong length is a wrong shape (E_INVALID), not a size problem. */
function tuple(v: unknown, path: string, n: number): readonly unknown[] {
  if (!Array.isArray(v) || v.length !== n) fail(path, `expected an array of ${n}`);
  return v;
}

function nullable<T>(v: unknown, f: (x: unknown) => T): T | null {
  return v === null ? null : f(v);
}

function triple(v: unknown, path: string): [number, number, number] {
  const a = tuple(v, path, 3);
  return [int(a[0], `${path}[0]`), int(a[1], `${path}[1]`), int(a[2], `${path}[2]`)];
}

/** Checks `v` first: a body of another version is refused before its shape is looked at. */
function versioned(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) fail(path, 'expected a map');
  const version = Object.hasOwn(v, 'v') ? (v as Obj).v : undefined;
  if (version !== WIRE_VERSION) throw new WireError('E_WIRE_VERSION', `wire version ${String(version)} is not supported; this service speaks ${WIRE_VERSION}`);
  return v as Obj;
}

const SEQ_MAX = Number.MAX_SAFE_INTEGER;

function parseRecord(v: unknown, path: string): WireRecord {
  const o = record(v, path, ['seq', 'kind', 'priority', 'series', 'tStart', 'tEnd', 'payload', 'replayed']);
  const tStart = finite(o.tStart, `${path}.tStart`);
  const tEnd = finite(o.tEnd, `${path}.tEnd`);
  if (tEnd < tStart) fail(`${path}.tEnd`, 'before tStart');
  return {
    seq: int(o.seq, `${path}.seq`, 1, SEQ_MAX),
    kind: str(o.kind, `${path}.kind`, WIRE_LIMITS.maxKindLength, KIND_PATTERN),
    priority: int(o.priority, `${path}.priority`, 0, 2) as WirePriority,
    series: str(o.series, `${path}.series`, WIRE_LIMITS.maxSeriesLength),
    tStart,
    tEnd,
    payload: bytes(o.payload, `${path}.payload`, WIRE_LIMITS.maxPayloadBytes),
    replayed: bool(o.replayed, `${path}.replayed`),
  };
}

/** A decoded batch body, validated strictly, including the in-batch sequencing rules (see the top of this file). */
export function parseBatch(v: unknown): BatchRequest {
  const o = record(versioned(v, 'batch'), 'batch', ['v', 'gatewayId', 'lane', 'firstSeq', 'lastSeq', 'skipped', 'records', 'sentAtMs']);
  const lane = o.lane;
  if (lane !== 'ordered' && lane !== 'live') fail('batch.lane', "expected 'ordered' or 'live'");
  const records = array(o.records, 'batch.records', WIRE_LIMITS.maxRecords).map((r, i) => parseRecord(r, `batch.records[${i}]`));
  const skipped = array(o.skipped, 'batch.skipped', WIRE_LIMITS.maxSkippedRanges).map((r, i): [number, number] => {
    const a = tuple(r, `batch.skipped[${i}]`, 2);
    return [int(a[0], `batch.skipped[${i}][0]`, 1, SEQ_MAX), int(a[1], `batch.skipped[${i}][1]`, 1, SEQ_MAX)];
  });
  const batch: BatchRequest = {
    v: WIRE_VERSION,
    gatewayId: str(o.gatewayId, 'batch.gatewayId', 64, GATEWAY_ID_PATTERN),
    lane,
    firstSeq: int(o.firstSeq, 'batch.firstSeq', 1, SEQ_MAX),
    lastSeq: int(o.lastSeq, 'batch.lastSeq', 1, SEQ_MAX),
    skipped,
    records,
    sentAtMs: finite(o.sentAtMs, 'batch.sentAtMs'),
  };
  checkSequencing(batch);
  return batch;
}

function seqError(message: string): never {
  throw new WireError('E_SEQ_INVALID', message);
}

/** The in-batch sequencing rules (top of protocol.ts); E_SEQ_INVALID when broken. */
export function checkSequencing(b: BatchRequest): void {
  if (b.lastSeq < b.firstSeq) seqError(`lastSeq ${b.lastSeq} is below firstSeq ${b.firstSeq}`);
  for (let i = 1; i < b.records.length; i++) {
    if (b.records[i]!.seq <= b.records[i - 1]!.seq) seqError(`records[${i}].seq ${b.records[i]!.seq} is not above the previous record's`);
  }
  if (b.lane === 'live') {
    if (b.records.length === 0) seqError('a live batch needs at least one record');
    if (b.skipped.length > 0) seqError('a live batch cannot declare skipped seqs');
    const p = b.records.findIndex((r) => r.priority !== 0);
    if (p >= 0) seqError(`records[${p}]: the live lane carries priority 0 only`);
    if (b.firstSeq !== b.records[0]!.seq || b.lastSeq !== b.records[b.records.length - 1]!.seq) {
      seqError('a live batch\'s firstSeq and lastSeq must be its first and last record\'s seq');
    }
    return;
  }
  // Ordered: records and skipped ranges, merged in order, cover [firstSeq, lastSeq] exactly once.
  let expect = b.firstSeq;
  let r = 0;
  let s = 0;
  while (r < b.records.length || s < b.skipped.length) {
    const rec = b.records[r];
    const skip = b.skipped[s];
    if (skip !== undefined && skip[1] < skip[0]) seqError(`skipped[${s}] = [${skip[0]}, ${skip[1]}] is reversed`);
    if (rec !== undefined && (skip === undefined || rec.seq < skip[0])) {
      if (rec.seq !== expect) seqError(rec.seq < expect ? `seq ${rec.seq} is covered twice` : `seqs ${expect}..${rec.seq - 1} are neither sent nor declared skipped`);
      expect = rec.seq + 1;
      r++;
    } else {
      const [from, to] = skip!;
      if (from !== expect) seqError(from < expect ? `skipped seq ${from} is covered twice` : `seqs ${expect}..${from - 1} are neither sent nor declared skipped`);
      expect = to + 1;
      s++;
    }
  }
  if (expect === b.firstSeq) seqError('an ordered batch needs at least one record or skipped range');
  if (expect - 1 !== b.lastSeq) seqError(`records and skipped ranges end at ${expect - 1}, lastSeq says ${b.lastSeq}`);
}

export function parseBatchAck(v: unknown): BatchAck {
  const o = record(versioned(v, 'ack'), 'ack', ['v', 'gatewayId', 'contiguousSeq', 'highestSeq', 'stored', 'duplicates', 'tombstoned']);
  return {
    v: WIRE_VERSION,
    gatewayId: str(o.gatewayId, 'ack.gatewayId', 64, GATEWAY_ID_PATTERN),
    contiguousSeq: int(o.contiguousSeq, 'ack.contiguousSeq'),
    highestSeq: int(o.highestSeq, 'ack.highestSeq'),
    stored: int(o.stored, 'ack.stored'),
    duplicates: int(o.duplicates, 'ack.duplicates'),
    tombstoned: int(o.tombstoned, 'ack.tombstoned'),
  };
}

export function parseHeartbeat(v: unknown): HeartbeatBody {
  const o = record(versioned(v, 'heartbeat'), 'heartbeat', ['v', 'gatewayId', 'sentAtMs', 'outbox', 'drops', 'watermarkLagMs', 'versions', 'counters']);
  const ob = record(o.outbox, 'heartbeat.outbox', ['rows', 'bytes', 'rowsByPriority', 'oldestUnsentAgeMs', 'nextSeq', 'ackedSeq', 'overQuota']);
  const d = record(o.drops, 'heartbeat.drops', ['merges', 'superseded', 'dropped', 'droppedBytes']);
  const ver = record(o.versions, 'heartbeat.versions', ['weir', 'wire', 'node']);
  const c = record(o.counters, 'heartbeat.counters', [], Object.keys(o.counters ?? {}));
  if (Object.keys(c).length > WIRE_LIMITS.maxCounters) throw new WireError('E_TOO_LARGE', `heartbeat.counters: more than ${WIRE_LIMITS.maxCounters}`);
  const counters: Record<string, number> = {};
  for (const [k, x] of Object.entries(c)) counters[str(k, 'heartbeat.counters key', 64, /^[A-Za-z][A-Za-z0-9_.]*$/)] = finite(x, `heartbeat.counters.${k}`);
  return {
    v: WIRE_VERSION,
    gatewayId: str(o.gatewayId, 'heartbeat.gatewayId', 64, GATEWAY_ID_PATTERN),
    sentAtMs: finite(o.sentAtMs, 'heartbeat.sentAtMs'),
    outbox: {
      rows: int(ob.rows, 'heartbeat.outbox.rows'),
      bytes: int(ob.bytes, 'heartbeat.outbox.bytes'),
      rowsByPriority: triple(ob.rowsByPriority, 'heartbeat.outbox.rowsByPriority'),
      oldestUnsentAgeMs: nullable(ob.oldestUnsentAgeMs, (x) => finite(x, 'heartbeat.outbox.oldestUnsentAgeMs')),
      nextSeq: int(ob.nextSeq, 'heartbeat.outbox.nextSeq', 1),
      ackedSeq: int(ob.ackedSeq, 'heartbeat.outbox.ackedSeq'),
      overQuota: bool(ob.overQuota, 'heartbeat.outbox.overQuota'),
    },
    drops: {
      merges: int(d.merges, 'heartbeat.drops.merges'),
      superseded: int(d.superseded, 'heartbeat.drops.superseded'),
      dropped: triple(d.dropped, 'heartbeat.drops.dropped'),
      droppedBytes: int(d.droppedBytes, 'heartbeat.drops.droppedBytes'),
    },
    watermarkLagMs: nullable(o.watermarkLagMs, (x) => finite(x, 'heartbeat.watermarkLagMs')),
    versions: { weir: str(ver.weir, 'heartbeat.versions.weir', 64), wire: int(ver.wire, 'heartbeat.versions.wire'), node: str(ver.node, 'heartbeat.versions.node', 64) },
    counters,
  };
}

export function parseHeartbeatAck(v: unknown): HeartbeatAck {
  const o = record(versioned(v, 'heartbeatAck'), 'heartbeatAck', ['v', 'contiguousSeq', 'highestSeq', 'serverTimeMs']);
  return {
    v: WIRE_VERSION,
    contiguousSeq: int(o.contiguousSeq, 'heartbeatAck.contiguousSeq'),
    highestSeq: int(o.highestSeq, 'heartbeatAck.highestSeq'),
    serverTimeMs: finite(o.serverTimeMs, 'heartbeatAck.serverTimeMs'),
  };
}

export function parseSnapshot(v: unknown): CheckpointSnapshot {
  const o = record(versioned(v, 'snapshot'), 'snapshot', ['v', 'gatewayId', 'checkpointId', 'consumedOffset', 'committedAtMs', 'nextSeq', 'takenAtMs', 'rows']);
  const r = record(o.rows, 'snapshot.rows', ['ns', 'keys', 'values']);
  const max = Number.MAX_SAFE_INTEGER;
  const ns = array(r.ns, 'snapshot.rows.ns', max).map((x, i) => str(x, `snapshot.rows.ns[${i}]`, 1024));
  const keys = array(r.keys, 'snapshot.rows.keys', max).map((x, i) => str(x, `snapshot.rows.keys[${i}]`, 64 * 1024));
  const values = array(r.values, 'snapshot.rows.values', max).map((x, i) => bytes(x, `snapshot.rows.values[${i}]`, 16 * 1024 * 1024));
  if (ns.length !== keys.length || ns.length !== values.length) fail('snapshot.rows', 'ns, keys and values differ in length');
  return {
    v: WIRE_VERSION,
    gatewayId: str(o.gatewayId, 'snapshot.gatewayId', 64, GATEWAY_ID_PATTERN),
    checkpointId: int(o.checkpointId, 'snapshot.checkpointId', 1),
    consumedOffset: int(o.consumedOffset, 'snapshot.consumedOffset'),
    committedAtMs: finite(o.committedAtMs, 'snapshot.committedAtMs'),
    nextSeq: int(o.nextSeq, 'snapshot.nextSeq', 1),
    takenAtMs: finite(o.takenAtMs, 'snapshot.takenAtMs'),
    rows: { ns, keys, values },
  };
}

export function parseCheckpointAck(v: unknown): CheckpointAck {
  const o = record(versioned(v, 'checkpointAck'), 'checkpointAck', ['v', 'checkpointId', 'stored']);
  return { v: WIRE_VERSION, checkpointId: int(o.checkpointId, 'checkpointAck.checkpointId'), stored: bool(o.stored, 'checkpointAck.stored') };
}

export function parseGatewayStatus(v: unknown): GatewaySyncStatus {
  const o = record(v, 'status', ['gatewayId', 'contiguousSeq', 'highestSeq', 'lastSeenMs', 'latestCheckpointId']);
  return {
    gatewayId: str(o.gatewayId, 'status.gatewayId', 64, GATEWAY_ID_PATTERN),
    contiguousSeq: int(o.contiguousSeq, 'status.contiguousSeq'),
    highestSeq: int(o.highestSeq, 'status.highestSeq'),
    lastSeenMs: nullable(o.lastSeenMs, (x) => finite(x, 'status.lastSeenMs')),
    latestCheckpointId: nullable(o.latestCheckpointId, (x) => int(x, 'status.latestCheckpointId')),
  };
}

/** An error response's body; anything unparseable becomes E_INTERNAL with the status it came with. */
export function parseErrorBody(v: unknown, status: number): ErrorBody {
  if (typeof v === 'object' && v !== null && isWireErrorCode((v as Obj).code)) {
    const o = v as Obj;
    const message = typeof o.message === 'string' ? o.message : '';
    const c = o.contiguousSeq;
    return typeof c === 'number' && Number.isSafeInteger(c) && c >= 0
      ? { code: o.code as WireErrorCode, message, contiguousSeq: c }
      : { code: o.code as WireErrorCode, message };
  }
  return { code: status === 503 ? 'E_UNAVAILABLE' : 'E_INTERNAL', message: `HTTP ${status} without a weir error body` };
}
