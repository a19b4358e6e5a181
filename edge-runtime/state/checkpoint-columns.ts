/**
 * A checkpoint built column by column as the runtime produces it, instead of
 * as one object per row held until the commit.
 *
 * At a window close, a checkpoint carries tens of thousands of state rows and
 * outbox rows. Held as objects — a row object, a Buffer for its value, for
 * each row — they lived from the moment they were produced to the end of the
 * commit, across several young-generation collections, and were promoted to
 * old space (a heap snapshot near the spill run's peak found ~7 MB of them).
 * Here each value is copied into one growing buffer as it is produced, the key
 * kept as the string the operator already holds, the numbers in typed arrays;
 * the encoder's output dies young. Measured: the spill run 5–14 % faster, RSS
 * unchanged (V8 keeps its heap committed near its cap either way;
 * docs/BENCHMARKS.md).
 *
 * `seal()` makes the form that crosses to the storage worker (PackedCheckpoint,
 * exact-size copies that can be transferred), while the builders stay with the
 * runtime until the commit succeeded: a failed checkpoint (E_DISK_FULL) keeps
 * its rows for the next attempt. `checkpointChunks` reads a PackedCheckpoint
 * back as rows, a chunk at a time, for SqliteStore.commitCheckpointChunks.
 */
import { StateError } from './state-errors.ts';
import type { CheckpointInput, OutboxInput, Priority, StateKey, StateRow } from './store-types.ts';
import { packStrings, pushRun, type PackedBytes, type PackedCheckpoint, type PackedOutbox, type PackedRuns } from './worker-protocol.ts';
import type { CheckpointChunks } from './sqlite-store.ts';

/** Blobs one after another in one growing buffer. */
class BytesColumn {
  private data: Uint8Array;
  private ends: Uint32Array;
  private used = 0;
  private n = 0;

  /** Sized for `expect` (blobs, bytes) when known: growing by doubling would hold up to twice what is used, and copy it. */
  constructor(expect?: { readonly count: number; readonly bytes: number }) {
    this.data = new Uint8Array(Math.max(16 * 1024, Math.ceil((expect?.bytes ?? 0) * 1.125)));
    this.ends = new Uint32Array(Math.max(256, Math.ceil((expect?.count ?? 0) * 1.125)));
  }

  push(b: Uint8Array): void {
    const end = this.used + b.byteLength;
    if (end > this.data.length) {
      const next = new Uint8Array(Math.max(end, this.data.length * 2));
      next.set(this.data.subarray(0, this.used));
      this.data = next;
    }
    this.data.set(b, this.used);
    this.used = end;
    if (this.n === this.ends.length) this.ends = grow(this.ends, new Uint32Array(this.n * 2));
    this.ends[this.n++] = end;
  }

  /** Blob i, a view (valid while this column lives). */
  at(i: number): Uint8Array {
    return this.data.subarray(i === 0 ? 0 : this.ends[i - 1]!, this.ends[i]!);
  }

  get byteLength(): number {
    return this.used;
  }

  /** Exact-size copies: buffers of their own, to transfer. */
  seal(): PackedBytes {
    return { data: this.data.slice(0, this.used), ends: this.ends.slice(0, this.n) };
  }
}

function grow<T extends Uint8Array | Uint32Array | Float64Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}

function copyRuns(r: { values: string[]; ends: number[] }): PackedRuns {
  return { values: [...r.values], ends: [...r.ends] };
}

/** The namespace of row i, from runs. */
function runValue(runs: PackedRuns, i: number, from: { run: number }): string {
  while (i >= runs.ends[from.run]!) from.run++;
  return runs.values[from.run]!;
}

/** State upserts, column by column. */
export class StateColumns {
  private readonly ns = { values: [] as string[], ends: [] as number[] };
  private readonly keys: string[] = [];
  private readonly values: BytesColumn;

  /** `expect`: about how many rows and value bytes are coming (e.g. the last checkpoint's, see sizeHint()). */
  constructor(expect?: { readonly count: number; readonly bytes: number }) {
    this.values = new BytesColumn(expect);
  }

  /** What this checkpoint held, as the next one's expectation. */
  sizeHint(): { readonly count: number; readonly bytes: number } {
    return { count: this.keys.length, bytes: this.values.byteLength };
  }

  static of(rows: readonly StateRow[]): StateColumns {
    const c = new StateColumns();
    for (const r of rows) c.push(r.ns, r.key, r.value);
    return c;
  }

  get length(): number {
    return this.keys.length;
  }

  /** Adds a row; `value` is copied (an encoder's reused output may be passed). */
  push(ns: string, key: string, value: Uint8Array): void {
    pushRun(this.ns, ns);
    this.keys.push(key);
    this.values.push(value);
  }

  /** The rows as objects (values are views into this builder). */
  rows(): StateRow[] {
    const at = { run: 0 };
    return this.keys.map((key, i) => ({ ns: runValue(this.ns, i, at), key, value: this.values.at(i) }));
  }

  seal(): Pick<PackedCheckpoint, 'upsertNs' | 'upsertKeys' | 'upsertValues'> {
    return { upsertNs: copyRuns(this.ns), upsertKeys: packStrings(this.keys), upsertValues: this.values.seal() };
  }
}

/** Outbox rows, column by column, in the order they will take seqs. */
export class OutboxColumns {
  private priorities = new Uint8Array(256);
  private tStart = new Float64Array(256);
  private tEnd = new Float64Array(256);
  private readonly kinds = { values: [] as string[], ends: [] as number[] };
  private readonly series: string[] = [];
  private readonly payloads = new BytesColumn();

  static of(rows: readonly OutboxInput[]): OutboxColumns {
    const c = new OutboxColumns();
    for (const o of rows) c.push(o);
    return c;
  }

  get length(): number {
    return this.series.length;
  }

  /** Adds a row; its payload is copied. E_STATE_ARGUMENT for a priority other than 0, 1 or 2 (a byte could not carry it). */
  push(o: OutboxInput): void {
    if (o.priority !== 0 && o.priority !== 1 && o.priority !== 2) {
      throw new StateError('E_STATE_ARGUMENT', `outbox priority must be 0, 1 or 2, got ${String(o.priority)}`);
    }
    const i = this.series.length;
    if (i === this.priorities.length) {
      this.priorities = grow(this.priorities, new Uint8Array(i * 2));
      this.tStart = grow(this.tStart, new Float64Array(i * 2));
      this.tEnd = grow(this.tEnd, new Float64Array(i * 2));
    }
    this.priorities[i] = o.priority;
    this.tStart[i] = o.tStart;
    this.tEnd[i] = o.tEnd;
    pushRun(this.kinds, o.kind);
    this.series.push(o.series);
    this.payloads.push(o.payload);
  }

  /** The rows as objects (payloads are views into this builder). */
  rows(): OutboxInput[] {
    const at = { run: 0 };
    return this.series.map((series, i) => ({
      priority: this.priorities[i] as Priority, kind: runValue(this.kinds, i, at), series, tStart: this.tStart[i]!, tEnd: this.tEnd[i]!, payload: this.payloads.at(i),
    }));
  }

  /** These rows followed by `later`'s, as new columns (a failed checkpoint's rows going back in front). */
  concat(later: OutboxColumns): OutboxColumns {
    const c = OutboxColumns.of(this.rows());
    for (const o of later.rows()) c.push(o);
    return c;
  }

  seal(): PackedOutbox {
    const n = this.series.length;
    return {
      priorities: this.priorities.slice(0, n), kinds: copyRuns(this.kinds), series: packStrings(this.series),
      tStart: this.tStart.slice(0, n), tEnd: this.tEnd.slice(0, n), payloads: this.payloads.seal(),
    };
  }
}

export interface CheckpointHead {
  readonly checkpointId: number;
  readonly consumedOffset: number;
  readonly nowMs?: number;
}

/** The packed form of a checkpoint: its buffers are its own (transferable); the builders stay usable. */
export function sealCheckpoint(head: CheckpointHead, state: StateColumns, outbox: OutboxColumns, deletes: readonly StateKey[], deletePrefixes: readonly StateKey[]): PackedCheckpoint {
  return {
    checkpointId: head.checkpointId,
    consumedOffset: head.consumedOffset,
    ...(head.nowMs === undefined ? {} : { nowMs: head.nowMs }),
    ...state.seal(),
    deletes: deletes.map((d) => ({ ns: d.ns, key: d.key })),
    deletePrefixes: deletePrefixes.map((d) => ({ ns: d.ns, key: d.key })),
    outbox: outbox.seal(),
  };
}

/** A CheckpointInput (rows) as a PackedCheckpoint. */
export function packCheckpoint(input: CheckpointInput): PackedCheckpoint {
  const state = StateColumns.of(input.stateUpserts);
  const outbox = OutboxColumns.of(input.outbox);
  return sealCheckpoint(input, state, outbox, input.stateDeletes, input.stateDeletePrefixes ?? []);
}

/** Rows built per chunk from the packed columns: they die young. */
const CHUNK_ROWS = 1024;

/** A PackedCheckpoint read back as rows, a chunk at a time (upserts in key order), for SqliteStore.commitCheckpointChunks. */
export function checkpointChunks(c: PackedCheckpoint): CheckpointChunks {
  return {
    checkpointId: c.checkpointId,
    consumedOffset: c.consumedOffset,
    ...(c.nowMs === undefined ? {} : { nowMs: c.nowMs }),
    stateUpserts: stateChunks(c),
    stateDeletes: c.deletes,
    stateDeletePrefixes: c.deletePrefixes ?? [],
    outbox: outboxChunks(c.outbox),
  };
}

/**
 * The upserts in key order (the order SQLite's index wants them in, as CheckpointTable sorts a whole
 * batch; sorting each chunk alone would sweep the table once per chunk), a chunk at a time.
 */
function* stateChunks(c: PackedCheckpoint): Generator<StateRow[]> {
  const { text, ends: keyEnds } = c.upsertKeys;
  const { data, ends: valueEnds } = c.upsertValues;
  const runs = c.upsertNs;
  const n = keyEnds.length;
  // Row i's namespace (index into runs.values) and key; keys are slices of one string (no copy).
  const nsOf = new Uint32Array(n);
  const keys: string[] = new Array(n);
  let sorted = true;
  for (let i = 0, run = 0; i < n; i++) {
    while (i >= runs.ends[run]!) run++;
    nsOf[i] = run;
    keys[i] = text.slice(i === 0 ? 0 : keyEnds[i - 1]!, keyEnds[i]!);
    if (sorted && i > 0 && compareRows(runs.values, nsOf, keys, i - 1, i) > 0) sorted = false;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!sorted) order.sort((a, b) => compareRows(runs.values, nsOf, keys, a, b));
  for (let k = 0; k < n;) {
    const chunk: StateRow[] = new Array(Math.min(CHUNK_ROWS, n - k));
    for (let j = 0; j < chunk.length; j++, k++) {
      const i = order[k]!;
      chunk[j] = { ns: runs.values[nsOf[i]!]!, key: keys[i]!, value: data.subarray(i === 0 ? 0 : valueEnds[i - 1]!, valueEnds[i]!) };
    }
    yield chunk;
  }
}

/** (ns, key) order of rows a and b, as CheckpointTable compares them. */
function compareRows(nsValues: readonly string[], nsOf: Uint32Array, keys: readonly string[], a: number, b: number): number {
  const na = nsValues[nsOf[a]!]!;
  const nb = nsValues[nsOf[b]!]!;
  if (na !== nb) return na < nb ? -1 : 1;
  const ka = keys[a]!;
  const kb = keys[b]!;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function* outboxChunks(o: PackedOutbox): Generator<OutboxInput[]> {
  const n = o.priorities.length;
  const { text, ends: seriesEnds } = o.series;
  const { data, ends: payloadEnds } = o.payloads;
  let run = 0;
  let seriesAt = 0;
  let payloadAt = 0;
  for (let i = 0; i < n;) {
    const chunk: OutboxInput[] = new Array(Math.min(CHUNK_ROWS, n - i));
    for (let j = 0; j < chunk.length; j++, i++) {
      while (i >= o.kinds.ends[run]!) run++;
      const seriesEnd = seriesEnds[i]!;
      const payloadEnd = payloadEnds[i]!;
      chunk[j] = {
        priority: o.priorities[i] as Priority, kind: o.kinds.values[run]!, series: text.slice(seriesAt, seriesEnd),
        tStart: o.tStart[i]!, tEnd: o.tEnd[i]!, payload: data.subarray(payloadAt, payloadEnd),
      };
      seriesAt = seriesEnd;
      payloadAt = payloadEnd;
    }
    yield chunk;
  }
}
