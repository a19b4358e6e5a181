import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Encoder } from 'cbor-x';
import pg from 'pg';
import type { BatchRequest, WireRecord } from './protocol.ts';
import type { CloudStorage, IngestRecord } from './storage/storage-types.ts';
import { hashToken, newToken } from './auth.ts';
import { indexRecord } from './payload-index.ts';

/** Helpers shared by cloud-sync's tests (not shipped code paths). */

/** PostgreSQL of the test machine (trust auth); override with WEIR_TEST_PG_URL. */
export const PG_URL = process.env.WEIR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function tempDir(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-cloud-'));
  return { dir, file: (n) => path.join(dir, n), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A fresh schema for one test file's PostgreSQL storages, dropped by drop(). Fails loudly when PostgreSQL is down. */
export async function freshPgSchema(): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `weir_test_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: PG_URL });
  try {
    await c.connect();
  } catch (e) {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL} (start it, or set WEIR_TEST_PG_URL): ${(e as Error).message}`, { cause: e });
  }
  try {
    await c.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await c.end();
  }
  return {
    schema,
    drop: async () => {
      const d = new pg.Client({ connectionString: PG_URL });
      await d.connect();
      try {
        await d.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await d.end();
      }
    },
  };
}

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

export function cborOf(v: unknown): Uint8Array {
  return Uint8Array.from(cbor.encode(v));
}

export interface WindowSpec {
  pipeline?: string;
  deviceId?: string;
  metric?: string;
  start: number;
  end: number;
  version?: number;
  count?: number;
  mean?: number;
  merged?: { windows: number; inexact: string[] };
  retracts?: { start: number; end: number; version: number }[];
}

export function windowPayload(w: WindowSpec): Uint8Array {
  return cborOf({
    type: 'window',
    pipeline: w.pipeline ?? 'p',
    key: { deviceId: w.deviceId ?? 'd1', metric: w.metric ?? 'temperature' },
    start: w.start,
    end: w.end,
    version: w.version ?? 1,
    count: w.count ?? 1,
    values: { mean: w.mean ?? 1 },
    ...(w.merged ? { merged: w.merged } : {}),
    ...(w.retracts ? { retracts: w.retracts } : {}),
  });
}

export function seriesOf(w: { pipeline?: string; deviceId?: string; metric?: string }): string {
  return [w.pipeline ?? 'p', w.deviceId ?? 'd1', w.metric ?? 'temperature'].join('\u001f');
}

/** A window record with seq `seq` (window [seq×10, seq×10+10) unless given). */
export function windowRecord(seq: number, w: Partial<WindowSpec> = {}, replayed = false): WireRecord {
  const spec: WindowSpec = { start: seq * 10, end: seq * 10 + 10, ...w };
  return { seq, kind: 'window', priority: 1, series: seriesOf(spec), tStart: spec.start, tEnd: spec.end, payload: windowPayload(spec), replayed };
}

export function anomalyRecord(seq: number, a: { deviceId?: string; metric?: string; eventTime?: number; pipeline?: string } = {}): WireRecord {
  const eventTime = a.eventTime ?? seq * 10;
  const payload = cborOf({
    type: 'anomaly', pipeline: a.pipeline ?? 'anomalies', key: { deviceId: a.deviceId ?? 'd1', metric: a.metric ?? 'temperature' },
    deviceId: a.deviceId ?? 'd1', metric: a.metric ?? 'temperature', eventTime, score: 0.9, detector: 'out-of-range', reason: 'above max',
    expected: [-10, 45], observed: 99,
  });
  return { seq, kind: 'anomaly', priority: 0, series: seriesOf({ pipeline: a.pipeline ?? 'anomalies', deviceId: a.deviceId, metric: a.metric }),
    tStart: eventTime, tEnd: eventTime + 1, payload, replayed: false };
}

/** A wire record with its index columns, as the service hands it to storage. */
export function indexed(r: WireRecord): IngestRecord {
  return { ...r, ...indexRecord(r.kind, r.payload) };
}

export function seqs(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** Adds gateways gw-a and gw-b and reader ops to a storage; returns their tokens. */
export async function addTestCredentials(storage: CloudStorage): Promise<{ a: string; b: string; reader: string }> {
  const a = newToken();
  const b = newToken();
  const reader = newToken();
  await storage.addGateway('gw-a', hashToken(a), 1);
  await storage.addGateway('gw-b', hashToken(b), 1);
  await storage.addReader('ops', hashToken(reader), 1);
  return { a, b, reader };
}

/** Headers of a CBOR+deflate upload with a bearer token. */
export function uploadHeaders(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, 'content-type': 'application/cbor', 'content-encoding': 'deflate' };
}

/** A batch body as the uplink would build it. */
export function orderedBatch(gatewayId: string, records: WireRecord[], skipped: [number, number][] = [], sentAtMs = 0): BatchRequest {
  const all = [...records.map((r) => r.seq), ...skipped.flat()];
  return { v: 1, gatewayId, lane: 'ordered', firstSeq: Math.min(...all), lastSeq: Math.max(...all), skipped, records, sentAtMs };
}
