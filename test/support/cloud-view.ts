/**
 * What the cloud holds for a gateway, read from the cloud-sync database
 * (through cloud-sync's own storage and final-view code, the same the
 * `/v1/results` route answers with), normalised so two runs — or a run and
 * the reference outputs of seeded-input.ts — compare as plain maps.
 *
 * Fields that legitimately differ between runs of the same input are left
 * out of the comparison keys: arrival (processing) times, the watermark a
 * late record met, seqs, receive times.
 */
import { SqliteStorage } from '../../cloud-sync/storage/sqlite-storage.ts';
import { decodeAny, decodeAnomaly, decodeWindow } from '../../cloud-sync/payloads.ts';
import { finalView, type ResultView, type WindowRow } from '../../cloud-sync/final-view.ts';
import type { GatewayRow, StorageCounts, StoredRecord } from '../../cloud-sync/storage/storage-types.ts';
import type { PipelineOutput, WindowResult } from '../../edge-runtime/engine/outputs.ts';

export interface WindowFinal {
  readonly count: number;
  readonly values: Readonly<Record<string, number | null>>;
  readonly version: number;
  readonly merged?: { readonly windows: number; readonly inexact: readonly string[] };
}

/** The comparable content: final windows by identity, anomalies and late records as multisets (key → how many). */
export interface ResultSet {
  readonly windows: ReadonlyMap<string, WindowFinal>;
  readonly anomalies: ReadonlyMap<string, number>;
  readonly late: ReadonlyMap<string, number>;
}

export interface CloudContents extends ResultSet {
  readonly gateway: GatewayRow;
  readonly counts: StorageCounts;
  /** Stored records by kind (every version of a window is one record). */
  readonly storedByKind: Readonly<Record<string, number>>;
  readonly finalView: readonly ResultView[];
  readonly degrade: readonly { atMs: number; totals: { merges: number; superseded: number; dropped: number[]; droppedBytes: number }; removedSeqs: [number, number][] }[];
  /** Every stored record (kind, seq, receivedAtMs, decoded payload), by seq. */
  readonly records: readonly { seq: number; kind: string; receivedAtMs: number; replayed: boolean; payload: unknown }[];
}

export const windowId = (w: { pipeline: string; key: Readonly<Record<string, string>>; start: number; end: number; index?: number }): string =>
  `${w.pipeline}|${Object.entries(w.key).map(([k, v]) => `${k}=${v}`).join(',')}|${w.start}|${w.end}${w.index !== undefined ? `|${w.index}` : ''}`;

export const anomalyId = (a: { pipeline: string; deviceId: string; metric: string; eventTime: number; detector: string; observed: number }): string =>
  `${a.pipeline}|${a.deviceId}|${a.metric}|${a.eventTime}|${a.detector}|${a.observed}`;

export const lateId = (l: { pipeline: string; reading: { deviceId: string; metric: string; eventTime: number; value: number }; missedWindows: number }): string =>
  `${l.pipeline}|${l.reading.deviceId}|${l.reading.metric}|${l.reading.eventTime}|${l.reading.value}|${l.missedWindows}`;

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** The results an outbox holding exactly these outputs shows once delivered: highest version per window. */
export function resultSetOf(outputs: readonly PipelineOutput[]): ResultSet {
  const best = new Map<string, WindowResult>();
  const anomalies = new Map<string, number>();
  const late = new Map<string, number>();
  for (const o of outputs) {
    if (o.type === 'window') {
      const id = windowId(o);
      const cur = best.get(id);
      if (cur === undefined || o.version >= cur.version) best.set(id, o);
    } else if (o.type === 'anomaly') bump(anomalies, anomalyId(o));
    else bump(late, lateId(o));
  }
  const windows = new Map<string, WindowFinal>();
  for (const [id, w] of best) windows.set(id, { count: w.count, values: w.values, version: w.version });
  return { windows, anomalies, late };
}

async function all(storage: SqliteStorage, kind: string, gateway: string): Promise<StoredRecord[]> {
  return storage.queryRecords({ kind, gateway, from: -8.64e15, to: 8.64e15, limit: 10_000_000 });
}

/** Reads the cloud database (the cloud may be running: WAL readers do not block it). */
export async function readCloud(dbPath: string, gateway: string): Promise<CloudContents> {
  const storage = await SqliteStorage.open({ path: dbPath, synchronous: 'NORMAL' });
  try {
    const g = (await storage.gateways(gateway))[0];
    if (g === undefined) throw new Error(`the cloud has no gateway ${gateway}`);
    const counts = await storage.counts();
    const [w, a, l, d] = await Promise.all(['window', 'anomaly', 'late', 'degrade'].map((k) => all(storage, k, gateway)));
    const rows: WindowRow[] = [];
    for (const r of w!) {
      const win = decodeWindow(r.payload);
      if (win === null) throw new Error(`undecodable window record seq ${r.seq}`);
      rows.push({ gateway: r.gateway, seq: r.seq, series: r.series, replayed: r.replayed, receivedAtMs: r.receivedAtMs, deviceId: r.deviceId, metric: r.metric, window: win });
    }
    const view = finalView(rows);
    const windows = new Map<string, WindowFinal>();
    for (const v of view) {
      const id = windowId(v);
      if (windows.has(id)) throw new Error(`final view holds window ${id} twice`);
      windows.set(id, { count: v.count, values: v.values, version: v.version, ...(v.merged !== undefined ? { merged: v.merged } : {}) });
    }
    const anomalies = new Map<string, number>();
    for (const r of a!) {
      const x = decodeAnomaly(r.payload);
      if (x === null) throw new Error(`undecodable anomaly record seq ${r.seq}`);
      bump(anomalies, anomalyId(x));
    }
    const late = new Map<string, number>();
    for (const r of l!) bump(late, lateId(decodeAny(r.payload) as Parameters<typeof lateId>[0]));
    const degrade = d!.map((r) => decodeAny(r.payload) as CloudContents['degrade'][number]);
    const records = [...w!, ...a!, ...l!, ...d!].sort((x, y) => x.seq - y.seq)
      .map((r) => ({ seq: r.seq, kind: r.kind, receivedAtMs: r.receivedAtMs, replayed: r.replayed, payload: decodeAny(r.payload) }));
    return {
      gateway: g, counts, windows, anomalies, late, finalView: view, degrade, records,
      storedByKind: { window: w!.length, anomaly: a!.length, late: l!.length, degrade: d!.length },
    };
  } finally {
    await storage.close();
  }
}

/** Differences between two result sets, as readable lines (empty: equal). `max` lines at most. */
export function diffResults(want: ResultSet, got: ResultSet, max = 20): string[] {
  const out: string[] = [];
  const say = (s: string): void => void (out.length < max && out.push(s));
  for (const [id, w] of want.windows) {
    const g = got.windows.get(id);
    if (g === undefined) say(`window ${id}: missing (want count ${w.count})`);
    else if (g.count !== w.count || JSON.stringify(g.values) !== JSON.stringify(w.values)) say(`window ${id}: got count ${g.count} ${JSON.stringify(g.values)} v${g.version}, want count ${w.count} ${JSON.stringify(w.values)} v${w.version}`);
  }
  for (const id of got.windows.keys()) if (!want.windows.has(id)) say(`window ${id}: unexpected`);
  for (const [name, a, b] of [['anomaly', want.anomalies, got.anomalies], ['late', want.late, got.late]] as const) {
    for (const [id, n] of a) if ((b.get(id) ?? 0) !== n) say(`${name} ${id}: got ${b.get(id) ?? 0}, want ${n}`);
    for (const [id, n] of b) if (!a.has(id)) say(`${name} ${id}: got ${n}, want 0`);
  }
  return out;
}
