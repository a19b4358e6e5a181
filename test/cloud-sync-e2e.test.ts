/**
 * End to end, DESIGN invariant 4: a real GatewayRuntime (the sample
 * pipelines: windows, hopping windows, sessions, anomaly detectors) fills
 * its outbox while an Uplink drains it over 127.0.0.1 into a real
 * cloud-sync server — SQLite, then PostgreSQL — through injected 500 / 429
 * answers, a lost ack and a server restart. Every outbox row arrives
 * exactly once, in seq order, byte for byte; the edge trims what was acked.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import { tempDir } from '../edge-runtime/state/test-support.ts';
import { GatewayRuntime } from '../edge-runtime/runtime/gateway-runtime.ts';
import { parsePipelineFile } from '../edge-runtime/pipeline/parse.ts';
import { ManualClock, type SourceRecord } from '../edge-runtime/engine/types.ts';
import type { CheckpointResult, StateStore } from '../edge-runtime/state/store-types.ts';
import { checkpointChunks } from '../edge-runtime/state/checkpoint-columns.ts';
import type { PackedCheckpoint } from '../edge-runtime/state/worker-protocol.ts';
import { ManualTimer } from '../cloud-sync/clock.ts';
import { startTestCloud, type Backend, type TestCloud } from './support/cloud-harness.ts';
import { drainWithRetries, uplinkFor } from './support/outbox-fill.ts';

const ROOT = join(import.meta.dirname, '..');
const T0 = Date.UTC(2026, 0, 1);

/** Reading i: 12 devices × 2 metrics every 2 s of event time, a few late, some temperatures out of range; a tick every 40. */
function record(i: number): SourceRecord {
  const arrival = T0 + i * 167;
  if (i % 40 === 39) return { type: 'tick', processingTime: arrival };
  const device = i % 12;
  const metric = (i >> 1) % 2 === 0 ? 'temperature' : 'humidity';
  const late = i % 97 === 5 ? 20_000 : (i * 31) % 400;
  const spike = metric === 'temperature' && i % 211 === 7;
  const value = metric === 'temperature' ? (spike ? 80 : 20 + ((i * 13) % 50) / 10) : 40 + ((i * 7) % 100) / 10;
  return { type: 'reading', reading: { deviceId: `env-${device}`, metric, value, eventTime: arrival - late, arrivalTime: arrival } };
}

async function cloudRows(cloud: TestCloud): Promise<{ seq: number; kind: string; payload: string }[]> {
  const all = [];
  for (const kind of ['window', 'anomaly', 'late', 'degrade']) {
    for (const r of await cloud.storage.queryRecords({ kind, from: -8.64e15, to: 8.64e15, limit: 1_000_000 })) {
      assert.equal(r.gateway, 'gw-a');
      all.push({ seq: r.seq, kind: r.kind, payload: Buffer.from(r.payload).toString('base64') });
    }
  }
  return all.sort((a, b) => a.seq - b.seq);
}

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`end to end: runtime → outbox → uplink → cloud-sync (${backend})`, () => {
    test('every row exactly once, in seq order, through 500/429, a lost ack and a server restart; the edge trims what was acked', async () => {
      const tmp = tempDir();
      const cloud = await startTestCloud(backend);
      const store = await LocalStateStore.open({ path: tmp.file('gw.db'), synchronous: 'NORMAL' });
      // What the runtime committed, row by row, as it committed it.
      const expected: { seq: number; kind: string; payload: string }[] = [];
      const recording: StateStore = Object.assign(Object.create(store) as StateStore, {
        commitPackedCheckpoint: async (c: PackedCheckpoint): Promise<CheckpointResult> => {
          const outbox = [...checkpointChunks(c).outbox].flat();
          const r = await store.commitPackedCheckpoint(c);
          assert.equal(r.lastSeq - r.firstSeq + 1, outbox.length);
          outbox.forEach((o, i) => expected.push({ seq: r.firstSeq + i, kind: o.kind, payload: Buffer.from(o.payload).toString('base64') }));
          return r;
        },
      });
      const plans = parsePipelineFile(readFileSync(join(ROOT, 'edge-runtime/samples/pipeline.yaml'), 'utf8'));
      const clock = new ManualClock(T0);
      const rt = await GatewayRuntime.start({ store: recording, plans, clock, checkpointIntervalMs: 0, tickIntervalMs: 0, groupCommit: { maxBatchRecords: 250, maxDelayMs: 1 } });
      const timer = new ManualTimer(T0);
      const uplink = uplinkFor(store, cloud, timer, { batch: { maxRecords: 100, maxAgeMs: 0 }, backoff: { baseMs: 1000, maxMs: 30_000 } });
      let next = 0;
      const feed = async (n: number): Promise<void> => {
        const acks: Promise<number>[] = [];
        for (const end = next + n; next < end; next++) {
          if (!rt.writable) await rt.drained();
          clock.set(T0 + next * 167);
          acks.push(rt.append(record(next)));
        }
        await Promise.all(acks);
        await rt.checkpoint();
        timer.advance(clock.now() - timer.now());
      };
      try {
        const idle0 = uplink.waitFor((e) => e.type === 'idle');
        uplink.start();
        await idle0;

        // 1. Plain.
        await feed(4000);
        let done = drainWithRetries(uplink, timer);
        uplink.notify();
        await done;
        assert.ok(expected.length > 200, `only ${expected.length} rows in phase 1`);

        // 2. Error answers and a lost ack.
        cloud.faults.push({ status: 500 }, { status: 429, retryAfter: '3' }, { drop: 'after' }, { status: 503 });
        await feed(4000);
        done = drainWithRetries(uplink, timer);
        uplink.notify();
        const ev = await done;
        assert.deepEqual(ev.filter((e) => e.type === 'failed').map((e) => e.type === 'failed' && e.code), ['E_INTERNAL', 'E_UNAVAILABLE', 'E_UPLINK_NETWORK', 'E_INTERNAL']);

        // 3. The server goes away mid-stream and comes back (same port, same database).
        await cloud.stop();
        await feed(4000);
        const backoff = uplink.waitFor((e) => e.type === 'waiting' && e.reason === 'backoff');
        uplink.notify();
        const w = await backoff;
        await cloud.start();
        done = drainWithRetries(uplink, timer);
        timer.advance(w.type === 'waiting' ? w.ms : 0);
        await done;

        // 4. Shutdown: the final checkpoint's rows go up too.
        await feed(2000);
        await rt.close();
        done = drainWithRetries(uplink, timer);
        uplink.notify();
        await done;

        assert.ok(expected.some((r) => r.kind === 'anomaly') && expected.some((r) => r.kind === 'late'), 'the stream exercises anomalies and late rows');
        assert.deepEqual(expected.map((r) => r.seq), expected.map((_, i) => i + 1));
        const got = await cloudRows(cloud);
        assert.equal(got.length, expected.length);
        assert.deepEqual(got, expected);
        const gw = (await cloud.storage.gateways('gw-a'))[0]!;
        assert.deepEqual([gw.contiguousSeq, gw.highestSeq], [expected.length, expected.length]);
        const st = await store.outboxStats(0);
        assert.deepEqual([st.rows, st.ackedSeq], [0, expected.length]);
        assert.ok(uplink.stats.duplicates >= 1, 'the lost ack made a batch come back as duplicates');
      } finally {
        await uplink.stop();
        await store.close();
        await cloud.close();
        tmp.cleanup();
      }
    });
  });
}
