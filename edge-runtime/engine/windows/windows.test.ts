import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePipeline } from '../../pipeline/compile.ts';
import type { PipelinePlan, WindowPlan } from '../../pipeline/plan.ts';
import type { PipelineOutput } from '../outputs.ts';
import type { SourceRecord } from '../types.ts';
import { T, rd, tick } from '../test-helpers.ts';

function plan(window: WindowPlan, maxOutOfOrderMs = 0): PipelinePlan {
  return {
    name: 'p',
    watermark: { maxOutOfOrderMs, idleTimeoutMs: 0, per: 'pipeline' },
    steps: [],
    keyBy: ['deviceId'],
    window,
    aggregates: [{ fn: 'count' }, { fn: 'sum' }],
    detect: [],
  };
}

/** Compact trace: `W <dev> [start,end) v<version> n=<count> sum=<sum>` (times relative to T, in s) or `L <dev> @t missed=<n>`. */
function show(o: PipelineOutput): string {
  const s = (t: number): number => (t - T) / 1000;
  if (o.type === 'late') return `L ${o.key.deviceId} @${s(o.reading.eventTime)} missed=${o.missedWindows}`;
  if (o.type === 'anomaly') return `A ${o.key.deviceId}`;
  const r = o.retracts ? ` retracts=${o.retracts.map((x) => `[${s(x.start)},${s(x.end)})v${x.version}`).join(',')}` : '';
  const idx = o.index !== undefined ? ` #${o.index}${o.partial ? ' partial' : ''}` : '';
  return `W ${o.key.deviceId} [${s(o.start)},${s(o.end)}) v${o.version} n=${o.count} sum=${o.values.sum}${idx}${r}`;
}

function run(p: PipelinePlan, batches: SourceRecord[][], end = true): string[] {
  const c = compilePipeline(p);
  const out: PipelineOutput[] = [];
  for (const b of batches) out.push(...c.runner.push(b));
  if (end) out.push(...c.runner.end());
  return out.map(show);
}

const s = (sec: number): number => T + sec * 1000;

describe('tumbling windows', () => {
  const tumbling = (size: number, allowedLatenessMs = 0, offsetMs = 0): WindowPlan => ({ type: 'tumbling', sizeMs: size * 1000, offsetMs, allowedLatenessMs });
  const cases: { name: string; p: PipelinePlan; in: SourceRecord[][]; end?: boolean; want: string[] }[] = [
    {
      name: 'fires when the watermark reaches the end (half-open: a reading at the end belongs to the next window)',
      p: plan(tumbling(10)),
      in: [[rd('a', s(0), 1), rd('a', s(9.999), 2), rd('a', s(10), 4)]],
      end: false,
      want: ['W a [0,10) v1 n=2 sum=3'],
    },
    {
      name: 'end of data fires everything still open',
      p: plan(tumbling(10)),
      in: [[rd('a', s(1), 1), rd('b', s(2), 5), rd('a', s(12), 1)]],
      want: ['W a [0,10) v1 n=1 sum=1', 'W b [0,10) v1 n=1 sum=5', 'W a [10,20) v1 n=1 sum=1'],
    },
    {
      name: 'maxOutOfOrder delays firing so reordered readings are on time',
      p: plan(tumbling(10), 3000),
      in: [[rd('a', s(5), 1), rd('a', s(11), 1), rd('a', s(8), 1), rd('a', s(13), 1), rd('a', s(9), 100)]],
      end: false,
      // wm after 13 is 10 → [0,10) fires; the reading at 9 is then late (no lateness) → side output.
      want: ['W a [0,10) v1 n=2 sum=2', 'L a @9 missed=1'],
    },
    {
      name: 'within allowed lateness a fired window is corrected with a higher version',
      p: plan(tumbling(10, 5000)),
      in: [[rd('a', s(1), 1), rd('a', s(12), 1)], [rd('a', s(3), 10), rd('a', s(14), 1)], [rd('a', s(4), 100), rd('a', s(16), 1)]],
      end: false,
      want: ['W a [0,10) v1 n=1 sum=1', 'W a [0,10) v2 n=2 sum=11', 'W a [0,10) v3 n=3 sum=111'],
    },
    {
      name: 'beyond allowed lateness the reading goes to the late side output and the window is not touched',
      p: plan(tumbling(10, 5000)),
      in: [[rd('a', s(1), 1), rd('a', s(15), 1), rd('a', s(2), 7), rd('a', s(25), 1)]],
      end: false,
      // at wm 15: [0,10) fired (v1) and still open until 15 → closed exactly at wm 15; reading at 2 is late.
      want: ['W a [0,10) v1 n=1 sum=1', 'L a @2 missed=1', 'W a [10,20) v1 n=1 sum=1'],
    },
    {
      name: 'several late readings between two watermarks give one correction',
      p: plan(tumbling(10, 60000)),
      in: [[rd('a', s(1), 1), rd('a', s(11), 1)], [rd('a', s(2), 1), rd('a', s(3), 1), rd('a', s(4), 1)], [rd('a', s(12), 1)]],
      end: false,
      // no watermark advance in batch 2 → the correction waits for the next watermark message
      want: ['W a [0,10) v1 n=1 sum=1', 'W a [0,10) v2 n=4 sum=4'],
    },
    {
      name: 'a late reading within lateness for a window that never fired emits version 1',
      p: plan(tumbling(10, 30000)),
      in: [[rd('a', s(25), 1), rd('b', s(3), 2), rd('a', s(26), 1)]],
      end: false,
      want: ['W b [0,10) v1 n=1 sum=2'],
    },
    {
      name: 'offset shifts the alignment',
      p: plan(tumbling(10, 0, 3000)),
      in: [[rd('a', s(2), 1), rd('a', s(3), 2), rd('a', s(12.9), 4), rd('a', s(13), 8)]],
      end: false,
      want: ['W a [-7,3) v1 n=1 sum=1', 'W a [3,13) v1 n=2 sum=6'],
    },
    {
      name: 'ticks advance an idle pipeline and close its last window',
      p: { ...plan(tumbling(10)), watermark: { maxOutOfOrderMs: 0, idleTimeoutMs: 2000, per: 'pipeline' } },
      in: [[rd('a', s(5), 1, s(5))], [tick(s(6)), tick(s(8))], [tick(s(12))]],
      end: false,
      // at 12: idle since 5; W = 5 + (12 - 5) = 12 ≥ 10 → fires
      want: ['W a [0,10) v1 n=1 sum=1'],
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(run(c.p, c.in, c.end ?? true), c.want));
});

describe('hopping windows', () => {
  const hopping = (size: number, slide: number, allowedLatenessMs = 0): WindowPlan => ({ type: 'hopping', sizeMs: size * 1000, slideMs: slide * 1000, offsetMs: 0, allowedLatenessMs });
  test('each reading counts in size/slide windows', () => {
    assert.deepEqual(run(plan(hopping(10, 5)), [[rd('a', s(1), 1), rd('a', s(6), 2), rd('a', s(11), 4)]]), [
      'W a [-5,5) v1 n=1 sum=1',
      'W a [0,10) v1 n=2 sum=3',
      'W a [5,15) v1 n=2 sum=6',
      'W a [10,20) v1 n=1 sum=4',
    ]);
  });
  test('size not a multiple of slide (panes of gcd) and empty stretches skipped', () => {
    assert.deepEqual(run(plan(hopping(6, 4)), [[rd('a', s(1), 1), rd('a', s(30), 2)]]), [
      'W a [-4,2) v1 n=1 sum=1',
      'W a [0,6) v1 n=1 sum=1',
      'W a [28,34) v1 n=1 sum=2',
    ]);
  });
  test('a late reading corrects every still-open window containing it and reports the closed ones', () => {
    // windows of 10 s every 5 s, lateness 6 s. At wm 16, [0,10) is closed (10+6 ≤ 16), [5,15) fired and open.
    assert.deepEqual(
      run(plan(hopping(10, 5, 6000)), [[rd('a', s(7), 1), rd('a', s(16), 1)], [rd('a', s(8), 10), rd('a', s(17), 0)]], false),
      ['W a [0,10) v1 n=1 sum=1', 'W a [5,15) v1 n=1 sum=1', 'L a @8 missed=1', 'W a [5,15) v2 n=2 sum=11'],
    );
  });
});

describe('session windows', () => {
  const session = (gap: number, allowedLatenessMs = 0, maxDurationMs: number | null = null): WindowPlan => ({ type: 'session', gapMs: gap * 1000, maxDurationMs, allowedLatenessMs });
  const cases: { name: string; p: PipelinePlan; in: SourceRecord[][]; end?: boolean; want: string[] }[] = [
    {
      name: 'readings within the gap form one session [first, last + gap)',
      p: plan(session(5)),
      in: [[rd('a', s(0), 1), rd('a', s(3), 1), rd('a', s(7), 1), rd('a', s(20), 1)]],
      end: false,
      want: ['W a [0,12) v1 n=3 sum=3'],
    },
    {
      name: 'a reading bridging two open sessions merges them (no retraction needed before firing)',
      p: plan(session(5), 5000),
      in: [[rd('a', s(0), 1), rd('a', s(9), 1), rd('a', s(4.5), 1), rd('a', s(40), 1)]],
      end: false,
      want: ['W a [0,14) v1 n=3 sum=3'],
    },
    {
      name: 'a late reading extending a fired session re-emits it and retracts the old identity',
      p: plan(session(5, 20000)),
      in: [[rd('a', s(0), 1), rd('a', s(10), 1)], [rd('a', s(3), 5), rd('a', s(11), 1)]],
      end: false,
      // wm 10 ≥ 5 → [0,5) fires. Reading at 3 → session [0,8) (≤ wm 10: complete) → correction, retracts [0,5).
      want: ['W a [0,5) v1 n=1 sum=1', 'W a [0,8) v2 n=2 sum=6 retracts=[0,5)v1'],
    },
    {
      name: 'late merge of two fired sessions retracts both',
      p: plan(session(2, 60000)),
      in: [[rd('a', s(0), 1), rd('a', s(3), 2), rd('a', s(10), 0)], [rd('a', s(1.5), 4), rd('a', s(11), 0)]],
      end: false,
      want: ['W a [0,2) v1 n=1 sum=1', 'W a [3,5) v1 n=1 sum=2', 'W a [0,5) v2 n=3 sum=7 retracts=[3,5)v1,[0,2)v1'],
    },
    {
      name: 'a reading too late for any open session goes to the side output',
      p: plan(session(2, 1000)),
      in: [[rd('a', s(0), 1), rd('a', s(10), 1), rd('a', s(5), 1)]],
      end: false,
      want: ['W a [0,2) v1 n=1 sum=1', 'L a @5 missed=1'],
    },
    {
      name: 'maxDuration starts a new session once the span would reach it',
      p: plan(session(5, 0, 10000)),
      in: [[rd('a', s(0), 1), rd('a', s(4), 1), rd('a', s(8), 1), rd('a', s(12), 1)]],
      want: ['W a [0,13) v1 n=3 sum=3', 'W a [12,17) v1 n=1 sum=1'],
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(run(c.p, c.in, c.end ?? true), c.want));
});

describe('count windows', () => {
  test('every n readings per key in arrival order; partial at end of data', () => {
    assert.deepEqual(run(plan({ type: 'count', size: 2 }), [[rd('a', s(5), 1), rd('b', s(1), 1), rd('a', s(2), 2), rd('a', s(9), 4)]]), [
      'W a [2,5.001) v1 n=2 sum=3 #0',
      'W a [9,9.001) v1 n=1 sum=4 #1 partial',
      'W b [1,1.001) v1 n=1 sum=1 #0 partial',
    ]);
  });
});
