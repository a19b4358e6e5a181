import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pipeline } from './builder.ts';
import { parsePipelineFile } from './parse.ts';
import { compileExpr, field } from './expr.ts';
import { compilePipeline } from './compile.ts';
import type { PipelinePlan } from './plan.ts';
import type { Reading, SourceRecord } from '../engine/types.ts';
import { ConfigError } from '../errors.ts';

function only(text: string): PipelinePlan {
  const plans = parsePipelineFile(text);
  assert.equal(plans.length, 1);
  return plans[0]!;
}

const SAME: { name: string; built: () => PipelinePlan; file: string }[] = [
  {
    name: 'the doc-comment example',
    built: () => pipeline('env')
      .watermark({ maxOutOfOrder: '5s', per: 'device' })
      .filter(field('metric').eq('temperature'))
      .keyBy('deviceId')
      .tumbling('10s')
      .aggregate('count', 'mean', 'p95')
      .build(),
    file: `name: env
watermark: { maxOutOfOrder: 5s, per: device }
filter: { metric: temperature }
keyBy: deviceId
window: { type: tumbling, size: 10s }
aggregates: [count, mean, p95]`,
  },
  {
    name: 'defaults only, count window',
    built: () => pipeline('c').count(10).aggregate('sum').build(),
    file: 'name: c\nwindow: { type: count, size: 10 }\naggregates: [sum]',
  },
  {
    name: 'map step with a constant and a derived tag; durations as numbers and strings',
    built: () => pipeline('m')
      .map({ value: field('value').mul(1.8).add(32), 'tags.raw': field('value') })
      .keyBy('deviceId', 'tags.site')
      .hopping(300_000, '1m', { offset: '250ms', allowedLateness: '1.5m' })
      .aggregate({ fn: 'max', field: 'tags.rssi', as: 'rssi' }, 'p99')
      .build(),
    file: `name: m
map:
  value: { mul: 1.8, add: 32 }
  tags.raw: { from: value }
keyBy: [deviceId, tags.site]
window: { type: hopping, size: 5m, slide: 60000, offset: 250ms, allowedLateness: 1.5m }
aggregates: [{ fn: max, field: tags.rssi, as: rssi }, p99]`,
  },
  {
    name: 'session window, idle timeout, in and matches',
    built: () => pipeline('s')
      .watermark({ maxOutOfOrder: 0, idleTimeout: '30s' })
      .filter(field('metric').in(['temperature', 'humidity']))
      .filter(field('deviceId').matches('^env-'))
      .session('20s', { maxDuration: '1h', allowedLateness: '1m' })
      .aggregate('first', 'last', { fn: 'distinct', field: 'deviceId', precision: 8 })
      .build(),
    file: `name: s
watermark: { maxOutOfOrder: 0, idleTimeout: 30s }
steps:
  - filter: { metric: { in: [temperature, humidity] } }
  - filter: { deviceId: { matches: "^env-" } }
window: { type: session, gap: 20s, maxDuration: 1h, allowedLateness: 1m }
aggregates: [first, last, { fn: distinct, field: deviceId, precision: 8 }]`,
  },
  {
    name: 'tumbling with offset; aggregate() called twice appends',
    built: () => pipeline('t').tumbling('1m', { offset: '10s' }).aggregate('min').aggregate('max').build(),
    file: 'name: t\nwindow: { type: tumbling, size: 1m, offset: 10s }\naggregates: [min, max]',
  },
];

describe('PipelineBuilder builds the same plan as the equivalent file', () => {
  for (const c of SAME) {
    test(c.name, () => {
      assert.deepEqual(c.built(), only(c.file));
    });
  }

  test('the filter of the sample pipeline: and(gt, lt) equals the file form { value: { gt, lt } }', () => {
    const built = pipeline('f').filter(field('value').gt(-40).and(field('value').lt(125))).count(1).aggregate('count').build();
    assert.deepEqual(built, only('name: f\nfilter: { value: { gt: -40, lt: 125 } }\nwindow: { type: count, size: 1 }\naggregates: [count]'));
  });

  test('the builder returns fresh arrays: building twice gives equal, independent plans', () => {
    const b = pipeline('x').filter(field('value').gt(1)).count(2).aggregate('count');
    const p1 = b.build();
    const p2 = b.build();
    assert.deepEqual(p1, p2);
    assert.notEqual(p1.steps, p2.steps);
    assert.notEqual(p1.keyBy, p2.keyBy);
  });
});

describe('PipelineBuilder runs the file checks', () => {
  const cases: { name: string; build: () => unknown; field: string }[] = [
    { name: 'missing window', build: () => pipeline('p').aggregate('count').build(), field: 'p.window' },
    { name: 'missing aggregates', build: () => pipeline('p').tumbling('10s').build(), field: 'p.aggregates' },
    { name: 'zero window size', build: () => pipeline('p').tumbling(0).aggregate('count').build(), field: 'p.window.size' },
    { name: 'fractional count size', build: () => pipeline('p').count(1.5).aggregate('count').build(), field: 'p.window.size' },
    { name: 'slide greater than size', build: () => pipeline('p').hopping('1m', '2m').aggregate('count').build(), field: 'p.window.slide' },
    { name: 'bad lateness', build: () => pipeline('p').session('1s', { allowedLateness: -1 }).aggregate('count').build(), field: 'p.window.allowedLateness' },
    { name: 'unknown aggregate', build: () => pipeline('p').count(1).aggregate('count', { fn: 'median' }).build(), field: 'p.aggregates[1].fn' },
    { name: 'quantile without q', build: () => pipeline('p').count(1).aggregate({ fn: 'quantile' }).build(), field: 'p.aggregates[0].q' },
    { name: 'mean of a text field', build: () => pipeline('p').count(1).aggregate({ fn: 'mean', field: 'metric' }).build(), field: 'p.aggregates[0].field' },
    { name: 'bad watermark duration', build: () => pipeline('p').watermark({ maxOutOfOrder: -5 }).count(1).aggregate('count').build(), field: 'p.watermark.maxOutOfOrder' },
    { name: 'duplicate output names', build: () => pipeline('p').count(1).aggregate('mean', 'max', 'mean').build(), field: 'p.aggregates[2]' },
    { name: 'duplicate explicit output names', build: () => pipeline('p').count(1).aggregate({ fn: 'max', as: 'x' }, { fn: 'min', as: 'x' }).build(), field: 'p.aggregates[1]' },
    { name: 'bad pipeline name', build: () => pipeline('has space').count(1).aggregate('count').build(), field: 'has space.name' },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.field}`, () => {
      assert.throws(c.build, (e: unknown) => {
        assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
        assert.equal(e.code, 'E_CONFIG');
        assert.equal(e.field, c.field);
        return true;
      });
    });
  }
});

describe('filter and map built with field(...) evaluate correctly when compiled', () => {
  const r = (value: number, metric = 'temperature', deviceId = 'env-1', tags?: Record<string, string | number>): Reading =>
    tags === undefined ? { deviceId, metric, value, eventTime: 0, arrivalTime: 0 } : { deviceId, metric, value, eventTime: 0, arrivalTime: 0, tags };

  const plan = pipeline('eval')
    .filter(field('metric').eq('temperature').and(field('value').ge(-40), field('value').lt(125)))
    .filter(field('deviceId').matches('^env-').or(field('tags.site').in(['lab'])))
    .map({ value: field('value').mul(1.8).add(32), 'tags.celsius': field('value') })
    .count(1)
    .aggregate('count')
    .build();

  const [f1, f2, m] = plan.steps;

  test('the first filter: metric and range', () => {
    assert.equal(f1?.kind, 'filter');
    if (f1?.kind !== 'filter') return;
    const pred = compileExpr(f1.where);
    const table: [Reading, boolean][] = [
      [r(20), true],
      [r(-40), true],
      [r(-40.01), false],
      [r(125), false],
      [r(124.99), true],
      [r(20, 'humidity'), false],
    ];
    for (const [reading, want] of table) assert.equal(pred(reading), want, JSON.stringify(reading));
  });

  test('the second filter: regex or tag membership', () => {
    assert.equal(f2?.kind, 'filter');
    if (f2?.kind !== 'filter') return;
    const pred = compileExpr(f2.where);
    const table: [Reading, boolean][] = [
      [r(1, 't', 'env-9'), true],
      [r(1, 't', 'my-env-9'), false],
      [r(1, 't', 'pump', { site: 'lab' }), true],
      [r(1, 't', 'pump', { site: 'yard' }), false],
      [r(1, 't', 'pump'), false],
    ];
    for (const [reading, want] of table) assert.equal(pred(reading), want, JSON.stringify(reading));
  });

  test('the map: Fahrenheit and the original value as a tag', () => {
    assert.equal(m?.kind, 'map');
    if (m?.kind !== 'map') return;
    assert.deepEqual(m.set.map((a) => a.field), ['value', 'tags.celsius']);
    const [v, t] = m.set.map((a) => compileExpr(a.expr));
    assert.equal(v!(r(100)), 212);
    assert.equal(v!(r(-40)), -40);
    assert.equal(t!(r(21.5)), 21.5);
  });

  test('compiled into a pipeline: only matching readings reach the window, mapped', () => {
    const { runner } = compilePipeline(plan);
    const recs: SourceRecord[] = [
      r(100), r(20, 'humidity'), r(200), r(0, 't', 'pump', { site: 'lab' }), r(0, 'temperature', 'pump', { site: 'lab' }),
    ].map((reading, i) => ({ type: 'reading', reading: { ...reading, eventTime: i, arrivalTime: i } }));
    const out = [...runner.push(recs), ...runner.end()];
    assert.deepEqual(
      out.map((o) => (o.type === 'window' ? [o.key, o.count, o.index] : o.type)),
      [
        [{ deviceId: 'env-1', metric: 'temperature' }, 1, 0],
        [{ deviceId: 'pump', metric: 'temperature' }, 1, 0],
      ],
    );
  });
});
