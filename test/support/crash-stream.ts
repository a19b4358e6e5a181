/**
 * A deterministic stream for crash tests: record i is a pure function of i
 * (so a restarted writer knows what to append next from the log's length).
 * Readings from 4 devices every 100 ms of event time with jitter, some
 * arriving 2-6 s late (corrections and late side output), a tick every 50.
 */
import type { SourceRecord } from '../../edge-runtime/engine/types.ts';
import type { PipelinePlan } from '../../edge-runtime/pipeline/plan.ts';

const BASE = Date.UTC(2026, 0, 1);

function hash(i: number): number {
  let x = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return (x >>> 0) / 4294967296;
}

export function streamRecord(i: number): SourceRecord {
  const arrival = BASE + i * 100;
  if (i % 50 === 49) return { type: 'tick', processingTime: arrival };
  const h = hash(i);
  const lateBy = h < 0.06 ? 2000 + Math.floor(h * 66_000) : Math.floor(h * 300);
  return {
    type: 'reading',
    reading: { deviceId: `d${i % 4}`, metric: 'm', value: (i * 7) % 100, eventTime: arrival - lateBy, arrivalTime: arrival },
  };
}

export const CRASH_PLANS: PipelinePlan[] = [
  {
    name: 'crash',
    watermark: { maxOutOfOrderMs: 500, idleTimeoutMs: 0, per: 'pipeline' },
    steps: [],
    keyBy: ['deviceId'],
    window: { type: 'tumbling', sizeMs: 2000, offsetMs: 0, allowedLatenessMs: 3000 },
    aggregates: [{ fn: 'count' }, { fn: 'sum' }, { fn: 'mean' }, { fn: 'max' }, { fn: 'quantile', q: 0.9 }],
    detect: [],
  },
];
