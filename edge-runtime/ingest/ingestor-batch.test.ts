/**
 * The Ingestor's batch path: the frames of one submitBatch go to the log as one append (one promise),
 * each frame settles with its own outcome and offsets, a full log makes batches wait in order, and a
 * failed append fails every frame of its batch (none is acknowledged).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as flushed } from 'node:timers/promises';
import type { SourceRecord } from '../engine/types.ts';
import { builtinProfile, type DeviceProfile } from '../../devices/index.ts';
import { Ingestor, type DurableLog, type IngestOutcome, type RawFrame } from './ingestor.ts';

const T0 = Date.UTC(2026, 0, 1, 8);
const env = builtinProfile('env-sensor') as DeviceProfile;

/** A log that refuses appends while `full`, and commits or fails them when the test says. */
class TestLog implements DurableLog {
  full = false;
  readonly appends: { records: string[]; resolve: (first: number) => void; reject: (e: unknown) => void }[] = [];
  private next = 1;
  private drains: (() => void)[] = [];
  get writable(): boolean {
    return !this.full;
  }
  appendBatch(records: readonly SourceRecord[]): Promise<number> {
    if (this.full) throw Object.assign(new Error('log full'), { code: 'E_LOG_BACKPRESSURE' });
    const lines = records.map((r) => (r.type === 'reading' ? `${r.reading.deviceId}|${r.reading.metric}|${r.reading.value}` : 'tick'));
    return new Promise((resolve, reject) => this.appends.push({ records: lines, resolve, reject }));
  }
  drained(): Promise<void> {
    return this.full ? new Promise((r) => this.drains.push(r)) : Promise.resolve();
  }
  commit(i: number): void {
    const a = this.appends[i]!;
    a.resolve(this.next);
    this.next += a.records.length;
  }
  drain(): void {
    this.full = false;
    for (const f of this.drains.splice(0)) f();
  }
}

function frame(payload: unknown, deviceId = 'env-0001'): RawFrame {
  return { transport: 'mqtt', topicOrUri: `weir/${deviceId}/telemetry`, deviceId, payload: Buffer.from(JSON.stringify(payload)), arrivalTime: T0 + 5000 };
}

/** submitBatch, collecting each frame's settlement by its index. */
function submit(ing: Ingestor, frames: RawFrame[]): (IngestOutcome | string | undefined)[] {
  const got: (IngestOutcome | string | undefined)[] = new Array(frames.length).fill(undefined);
  ing.submitBatch(frames, (i, outcome, e) => {
    assert.equal(got[i], undefined, `frame ${i} settled twice`);
    got[i] = outcome ?? `error: ${(e as Error).message}`;
  });
  return got;
}

const quarantine = { quarantine: (e: readonly unknown[]) => Promise.resolve({ ids: e.map((_, i) => i) }) };

describe('ingestor: batches', () => {
  test('one append for the good frames of a batch, in order; each frame settles with its own last offset', async () => {
    const log = new TestLog();
    const ing = new Ingestor({ profiles: [env], log, quarantine, quarantineDelayMs: 0 });
    const got = submit(ing, [
      frame({ ts: T0, temperature: 21, humidity: 40 }),
      frame({ ts: T0, temperature: 999 }),
      frame({ ts: T0, temperature: 22 }, 'env-0002'),
    ]);
    assert.deepEqual(log.appends.map((a) => a.records), [['env-0001|temperature|21', 'env-0001|humidity|40', 'env-0002|temperature|22']]);
    await new Promise((r) => setTimeout(r, 10)); // the quarantine batch's delay
    assert.equal(got[0], undefined, 'nothing is accepted before the append is durable');
    assert.equal((got[1] as IngestOutcome).kind, 'quarantined', 'a bad frame settles with its quarantine record, not with the batch');
    log.commit(0);
    await flushed();
    assert.deepEqual(got[0], { kind: 'accepted', readings: 2, lastOffset: 2 });
    assert.deepEqual(got[2], { kind: 'accepted', readings: 1, lastOffset: 3 });
    assert.deepEqual([ing.counters.frames, ing.counters.readings, ing.counters.quarantined], [3, 3, 1]);
  });

  test('while the log is full, batches wait and reach it in the order they were submitted', async () => {
    const log = new TestLog();
    const ing = new Ingestor({ profiles: [env], log, quarantine });
    log.full = true;
    const a = submit(ing, [frame({ ts: T0, temperature: 1 })]);
    assert.equal(ing.writable, false);
    log.full = false; // the log has room again, but the first batch has not been handed on yet
    const b = submit(ing, [frame({ ts: T0, temperature: 2 })]);
    assert.equal(log.appends.length, 0, 'a later batch does not overtake a waiting one');
    log.full = true;
    log.drain();
    await flushed();
    assert.deepEqual(log.appends.map((x) => x.records), [['env-0001|temperature|1'], ['env-0001|temperature|2']]);
    log.commit(0);
    log.commit(1);
    await flushed();
    assert.deepEqual([a[0], b[0]], [{ kind: 'accepted', readings: 1, lastOffset: 1 }, { kind: 'accepted', readings: 1, lastOffset: 2 }]);
  });

  test('a failed append fails every good frame of its batch, and a closed log refuses at once', async () => {
    const log = new TestLog();
    const ing = new Ingestor({ profiles: [env], log, quarantine });
    const got = submit(ing, [frame({ ts: T0, temperature: 1 }), frame({ ts: T0, temperature: 2 }, 'env-0002')]);
    log.appends[0]!.reject(new Error('disk full'));
    await flushed();
    assert.deepEqual(got, ['error: disk full', 'error: disk full']);
    log.appendBatch = () => {
      throw Object.assign(new Error('runtime is closed'), { code: 'E_USAGE' });
    };
    await assert.rejects(ing.submit(frame({ ts: T0, temperature: 3 })), /runtime is closed/);
  });
});
