/** Outbox rows as the runtime writes them, for the uplink tests. */
import type { OutboxInput, StateRow, StateStore } from '../../edge-runtime/state/store-types.ts';
import { toOutboxInput } from '../../edge-runtime/runtime/outbox-rows.ts';
import { Uplink } from '../../edge-runtime/uplink/uplink.ts';
import type { UplinkOptions } from '../../edge-runtime/uplink/uplink-types.ts';
import type { UplinkEvent } from '../../edge-runtime/uplink/uplink-types.ts';
import type { ManualTimer } from '../../cloud-sync/clock.ts';
import type { TestCloud } from './cloud-harness.ts';

export function windowOut(i: number, deviceId = `d${i % 50}`): OutboxInput {
  return toOutboxInput({
    type: 'window', pipeline: 'stats', key: { deviceId, metric: 'temperature' }, start: i * 10_000, end: i * 10_000 + 10_000,
    version: 1, count: 10, values: { mean: i / 10, max: i },
  });
}

export function anomalyOut(i: number): OutboxInput {
  return toOutboxInput({
    type: 'anomaly', pipeline: 'alarms', key: { deviceId: 'd1', metric: 'temperature' }, deviceId: 'd1', metric: 'temperature',
    eventTime: i * 1000, score: 0.97, detector: 'out-of-range', reason: 'above 45', expected: [-10, 45], observed: 60 + i,
  });
}

export function lateOut(i: number, padding = 200): OutboxInput {
  return toOutboxInput({
    type: 'late', pipeline: 'stats', key: { deviceId: 'd2', metric: 'temperature' },
    reading: { deviceId: 'd2', metric: 'temperature', value: i, eventTime: i, arrivalTime: i, tags: { pad: 'x'.repeat(padding) } },
    watermark: i + 5000, missedWindows: 1,
  });
}

let checkpointIds = new WeakMap<StateStore, number>();

/** Commits one checkpoint (a tick in the log, state rows, outbox rows) at processing time nowMs; returns its seqs. */
export async function commitRows(store: StateStore, outbox: readonly OutboxInput[], nowMs: number, state: readonly StateRow[] = []): Promise<{ firstSeq: number; lastSeq: number }> {
  const { lastOffset } = await store.appendSegment([{ type: 'tick', processingTime: nowMs }], nowMs);
  const prev = (await store.loadCheckpoint())?.checkpointId ?? 0;
  const id = Math.max(prev, checkpointIds.get(store) ?? 0) + 1;
  checkpointIds.set(store, id);
  const r = await store.commitCheckpoint({ checkpointId: id, consumedOffset: lastOffset, stateUpserts: [...state], stateDeletes: [], outbox: [...outbox], nowMs });
  return { firstSeq: r.firstSeq, lastSeq: r.lastSeq };
}

export function resetCheckpointIds(): void {
  checkpointIds = new WeakMap();
}

/** An uplink for gw-a of `cloud`, on the manual timer, with heartbeats and snapshots off unless asked. */
export function uplinkFor(store: StateStore, cloud: TestCloud, timer: ManualTimer, o: Partial<UplinkOptions> = {}): Uplink {
  return new Uplink({
    store,
    cloud: { endpoint: cloud.url, gatewayId: 'gw-a', token: cloud.token },
    clock: timer,
    timer,
    random: () => 0.5,
    heartbeatIntervalMs: 0,
    snapshotIntervalMs: 0,
    batch: { maxRecords: 500, maxAgeMs: 0 },
    ...o,
  });
}

/**
 * Runs until the uplink reports idle, advancing the manual timer through each
 * backoff, Retry-After and bandwidth-cap wait (by exactly what the uplink
 * chose, once it has armed it). Returns every event on the way.
 */
export function drainWithRetries(uplink: Uplink, timer: ManualTimer, until: (e: UplinkEvent) => boolean = (e) => e.type === 'idle'): Promise<UplinkEvent[]> {
  return new Promise((resolve, reject) => {
    const events: UplinkEvent[] = [];
    const off = uplink.onEvent((e) => {
      events.push(e);
      if (e.type === 'waiting' && e.reason !== 'idle' && e.reason !== 'age') setImmediate(() => timer.advance(e.ms));
      if (e.type === 'fatal') {
        off();
        reject(new Error(`uplink stopped: ${e.code}: ${e.message}`));
      }
      if (until(e)) {
        off();
        resolve(events);
      }
    });
  });
}
