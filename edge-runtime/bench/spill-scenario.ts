/**
 * The bounded-memory scenario shared by test/spill.test.ts and
 * spill-bench.ts: N distinct keys, two readings each 8 s apart in event time,
 * keys interleaved so every 10 s window holds N keys' worth, generated batch
 * by batch (nothing held), into a 10 s tumbling count/sum/mean/max.
 */
import type { PipelinePlan } from '../pipeline/plan.ts';
import type { SourceRecord } from '../engine/types.ts';

const T0 = Date.UTC(2026, 0, 1);

export const SPILL_PLAN: PipelinePlan = {
  name: 'spill',
  watermark: { maxOutOfOrderMs: 1000, idleTimeoutMs: 0, per: 'pipeline' },
  steps: [],
  keyBy: ['deviceId'],
  window: { type: 'tumbling', sizeMs: 10_000, offsetMs: 0, allowedLatenessMs: 0 },
  aggregates: [{ fn: 'count' }, { fn: 'sum' }, { fn: 'mean' }, { fn: 'max' }],
  detect: [],
};

export function* spillBatches(keys: number, batchSize = 4096): Generator<SourceRecord[]> {
  let b: SourceRecord[] = [];
  for (let i = 0; i < 2 * keys; i++) {
    const k = i % keys;
    const round = Math.floor(i / keys);
    const eventTime = T0 + round * 8000 + Math.floor((k / keys) * 8000);
    b.push({ type: 'reading', reading: { deviceId: `k${k}`, metric: 'm', value: (k % 1000) + round, eventTime, arrivalTime: eventTime } });
    if (b.length === batchSize) {
      yield b;
      b = [];
    }
  }
  if (b.length > 0) yield b;
}
