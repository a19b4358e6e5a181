import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parsePipelineFile } from './parse.ts';
import type { PipelinePlan, WindowPlan } from './plan.ts';
import type { AggregateSpec } from '../engine/aggregates/spec.ts';
import { ConfigError } from '../errors.ts';

const TUMBLE_10S: WindowPlan = { type: 'tumbling', sizeMs: 10_000, offsetMs: 0, allowedLatenessMs: 0 };

/** A fully defaulted plan with the given parts replaced. */
function plan(over: Partial<PipelinePlan> & { name: string }): PipelinePlan {
  return {
    watermark: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' },
    steps: [],
    keyBy: ['deviceId', 'metric'],
    window: TUMBLE_10S,
    aggregates: [{ fn: 'count' }],
    detect: [],
    ...over,
  };
}

/** One YAML pipeline with a 10 s tumbling window and [count], plus extra lines. */
function yaml1(extra: string, name = 'p'): string {
  return `name: ${name}\nwindow: { type: tumbling, size: 10s }\naggregates: [count]\n${extra}`;
}

function withAggs(aggs: string): string {
  return `name: p\nwindow: { type: tumbling, size: 10s }\naggregates: ${aggs}\n`;
}

function withWindow(win: string): string {
  return `name: p\nwindow: ${win}\naggregates: [count]\n`;
}

const VALID: { name: string; text: string; want: PipelinePlan[] }[] = [
  {
    name: 'minimal YAML mapping: every default filled in',
    text: yaml1(''),
    want: [plan({ name: 'p' })],
  },
  {
    name: 'JSON document with a pipelines list',
    text: JSON.stringify({
      pipelines: [
        { name: 'a', window: { type: 'tumbling', size: '250ms' }, aggregates: ['mean'] },
        { name: 'b', window: { type: 'count', size: 5 }, aggregates: [{ fn: 'max', as: 'peak' }] },
      ],
    }),
    want: [
      plan({ name: 'a', window: { type: 'tumbling', sizeMs: 250, offsetMs: 0, allowedLatenessMs: 0 }, aggregates: [{ fn: 'mean' }] }),
      plan({ name: 'b', window: { type: 'count', size: 5 }, aggregates: [{ fn: 'max', as: 'peak' }] }),
    ],
  },
  {
    name: 'top-level YAML list of pipelines',
    text: '- name: a\n  window: { type: count, size: 1 }\n  aggregates: [sum]\n- name: b\n  window: { type: count, size: 2 }\n  aggregates: [min]\n',
    want: [
      plan({ name: 'a', window: { type: 'count', size: 1 }, aggregates: [{ fn: 'sum' }] }),
      plan({ name: 'b', window: { type: 'count', size: 2 }, aggregates: [{ fn: 'min' }] }),
    ],
  },
  {
    name: 'tumbling with offset and allowedLateness; durations 1.5m, 10s, plain ms number',
    text: withWindow('{ type: tumbling, size: 1.5m, offset: 10s, allowedLateness: 2500 }'),
    want: [plan({ name: 'p', window: { type: 'tumbling', sizeMs: 90_000, offsetMs: 10_000, allowedLatenessMs: 2500 } })],
  },
  {
    name: 'hopping: size, slide, hours and days',
    text: withWindow('{ type: hopping, size: 1d, slide: 2h, allowedLateness: 0 }'),
    want: [plan({ name: 'p', window: { type: 'hopping', sizeMs: 86_400_000, slideMs: 7_200_000, offsetMs: 0, allowedLatenessMs: 0 } })],
  },
  {
    name: 'hopping with slide equal to size is allowed',
    text: withWindow('{ type: hopping, size: 5m, slide: 300000, offset: 0.5s }'),
    want: [plan({ name: 'p', window: { type: 'hopping', sizeMs: 300_000, slideMs: 300_000, offsetMs: 500, allowedLatenessMs: 0 } })],
  },
  {
    name: 'session without maxDuration → null',
    text: withWindow('{ type: session, gap: 20s }'),
    want: [plan({ name: 'p', window: { type: 'session', gapMs: 20_000, maxDurationMs: null, allowedLatenessMs: 0 } })],
  },
  {
    name: 'session with maxDuration and allowedLateness',
    text: withWindow('{ type: session, gap: "250ms", maxDuration: 1h, allowedLateness: 1m }'),
    want: [plan({ name: 'p', window: { type: 'session', gapMs: 250, maxDurationMs: 3_600_000, allowedLatenessMs: 60_000 } })],
  },
  {
    name: 'count window',
    text: withWindow('{ type: count, size: 100 }'),
    want: [plan({ name: 'p', window: { type: 'count', size: 100 } })],
  },
  {
    name: 'watermark with every setting',
    text: yaml1('watermark: { maxOutOfOrder: 5s, idleTimeout: 30s, per: device }'),
    want: [plan({ name: 'p', watermark: { maxOutOfOrderMs: 5000, idleTimeoutMs: 30_000, per: 'device' } })],
  },
  {
    name: 'watermark with zero maxOutOfOrder and default per',
    text: yaml1('watermark: { maxOutOfOrder: 0 }'),
    want: [plan({ name: 'p', watermark: { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' } })],
  },
  {
    name: 'filter mapping: bare value is eq, several conditions become and (in key order)',
    text: yaml1('filter: { metric: temperature, value: { gt: -40, lt: 125 } }'),
    want: [plan({
      name: 'p',
      steps: [{
        kind: 'filter',
        where: {
          op: 'and',
          args: [
            { op: 'eq', args: [{ field: 'metric' }, { lit: 'temperature' }] },
            { op: 'gt', args: [{ field: 'value' }, { lit: -40 }] },
            { op: 'lt', args: [{ field: 'value' }, { lit: 125 }] },
          ],
        },
      }],
    })],
  },
  {
    name: 'filter with one condition is not wrapped in and',
    text: yaml1('filter: { tags.site: { ne: null } }'),
    want: [plan({ name: 'p', steps: [{ kind: 'filter', where: { op: 'ne', args: [{ field: 'tags.site' }, { lit: null }] } }] })],
  },
  {
    name: 'filter list is an or of alternatives; in and matches',
    text: yaml1('filter:\n  - { metric: { in: [temperature, humidity] } }\n  - { deviceId: { matches: "^env-0[12]$" }, value: { ge: 0, le: 1, eq: true } }'),
    want: [plan({
      name: 'p',
      steps: [{
        kind: 'filter',
        where: {
          op: 'or',
          args: [
            { op: 'in', arg: { field: 'metric' }, values: ['temperature', 'humidity'] },
            {
              op: 'and',
              args: [
                { op: 'matches', arg: { field: 'deviceId' }, pattern: '^env-0[12]$' },
                { op: 'ge', args: [{ field: 'value' }, { lit: 0 }] },
                { op: 'le', args: [{ field: 'value' }, { lit: 1 }] },
                { op: 'eq', args: [{ field: 'value' }, { lit: true }] },
              ],
            },
          ],
        },
      }],
    })],
  },
  {
    name: 'map: arithmetic in fixed order mul, div, add, sub; constants; from another field',
    text: yaml1('map:\n  value: { sub: 1, add: 32, mul: 1.8, div: 2 }\n  metric: temperature_f\n  tags.raw: { from: value }'),
    want: [plan({
      name: 'p',
      steps: [{
        kind: 'map',
        set: [
          {
            field: 'value',
            expr: {
              op: 'sub',
              args: [{ op: 'add', args: [{ op: 'div', args: [{ op: 'mul', args: [{ field: 'value' }, { lit: 1.8 }] }, { lit: 2 }] }, { lit: 32 }] }, { lit: 1 }],
            },
          },
          { field: 'metric', expr: { lit: 'temperature_f' } },
          { field: 'tags.raw', expr: { field: 'value' } },
        ],
      }],
    })],
  },
  {
    name: 'filter and map at top level: filter runs first whatever the key order',
    text: yaml1('map: { value: { mul: 2 } }\nfilter: { metric: t }'),
    want: [plan({
      name: 'p',
      steps: [
        { kind: 'filter', where: { op: 'eq', args: [{ field: 'metric' }, { lit: 't' }] } },
        { kind: 'map', set: [{ field: 'value', expr: { op: 'mul', args: [{ field: 'value' }, { lit: 2 }] } }] },
      ],
    })],
  },
  {
    name: 'steps: explicit order, map between filters',
    text: yaml1('steps:\n  - map: { value: { add: 1 } }\n  - filter: { value: { gt: 3 } }\n  - map: { metric: m2 }'),
    want: [plan({
      name: 'p',
      steps: [
        { kind: 'map', set: [{ field: 'value', expr: { op: 'add', args: [{ field: 'value' }, { lit: 1 }] } }] },
        { kind: 'filter', where: { op: 'gt', args: [{ field: 'value' }, { lit: 3 }] } },
        { kind: 'map', set: [{ field: 'metric', expr: { lit: 'm2' } }] },
      ],
    })],
  },
  {
    name: 'keyBy as one field and as a list with a tag',
    text: '- name: a\n  keyBy: deviceId\n  window: { type: count, size: 3 }\n  aggregates: [count]\n- name: b\n  keyBy: [tags.site, metric]\n  window: { type: count, size: 3 }\n  aggregates: [count]\n- name: c\n  keyBy: []\n  window: { type: count, size: 3 }\n  aggregates: [count]\n',
    want: [
      plan({ name: 'a', keyBy: ['deviceId'], window: { type: 'count', size: 3 } }),
      plan({ name: 'b', keyBy: ['tags.site', 'metric'], window: { type: 'count', size: 3 } }),
      plan({ name: 'c', keyBy: [], window: { type: 'count', size: 3 } }),
    ],
  },
  {
    name: 'aggregates: every plain fn, quantile shorthands, {fn, field, as}, accuracy, precision',
    text: withAggs(`
  - count
  - sum
  - min
  - max
  - mean
  - variance
  - stddev
  - varianceSample
  - stddevSample
  - first
  - last
  - rate
  - p95
  - p99.9
  - { fn: p50, accuracy: 0.02 }
  - { fn: quantile, q: 0.25, as: q1 }
  - { fn: distinct, field: deviceId, precision: 10 }
  - { fn: mean, field: tags.battery, as: battery }
  - { fn: count, field: deviceId, as: devices }
  - { fn: max, field: eventTime }`),
    want: [plan({
      name: 'p',
      aggregates: [
        { fn: 'count' }, { fn: 'sum' }, { fn: 'min' }, { fn: 'max' }, { fn: 'mean' },
        { fn: 'variance' }, { fn: 'stddev' }, { fn: 'varianceSample' }, { fn: 'stddevSample' },
        { fn: 'first' }, { fn: 'last' }, { fn: 'rate' },
        { fn: 'quantile', q: 0.95 },
        { fn: 'quantile', q: 0.999 },
        { fn: 'quantile', q: 0.5, accuracy: 0.02 },
        { fn: 'quantile', q: 0.25, as: 'q1' },
        { fn: 'distinct', field: 'deviceId', precision: 10 },
        { fn: 'mean', field: 'tags.battery', as: 'battery' },
        { fn: 'count', field: 'deviceId', as: 'devices' },
        { fn: 'max', field: 'eventTime' },
      ] satisfies AggregateSpec[],
    })],
  },
  {
    name: 'same fn on different fields gets different default names (no clash)',
    text: withAggs('[max, { fn: max, field: tags.rssi }, p95, { fn: quantile, q: 0.9 }]'),
    want: [plan({ name: 'p', aggregates: [{ fn: 'max' }, { fn: 'max', field: 'tags.rssi' }, { fn: 'quantile', q: 0.95 }, { fn: 'quantile', q: 0.9 }] })],
  },
  {
    name: 'the sample pipeline file shape (flow mappings, comments)',
    text: `# comment
pipelines:
  - name: temperature-f-5m
    watermark: { maxOutOfOrder: 5s }
    filter: { metric: temperature }
    map:
      value: { mul: 1.8, add: 32 }
      metric: temperature_f
    keyBy: deviceId
    window: { type: hopping, size: 5m, slide: 1m }
    aggregates: [mean, max, { fn: count, as: readings }]
`,
    want: [plan({
      name: 'temperature-f-5m',
      watermark: { maxOutOfOrderMs: 5000, idleTimeoutMs: 0, per: 'pipeline' },
      steps: [
        { kind: 'filter', where: { op: 'eq', args: [{ field: 'metric' }, { lit: 'temperature' }] } },
        {
          kind: 'map',
          set: [
            { field: 'value', expr: { op: 'add', args: [{ op: 'mul', args: [{ field: 'value' }, { lit: 1.8 }] }, { lit: 32 }] } },
            { field: 'metric', expr: { lit: 'temperature_f' } },
          ],
        },
      ],
      keyBy: ['deviceId'],
      window: { type: 'hopping', sizeMs: 300_000, slideMs: 60_000, offsetMs: 0, allowedLatenessMs: 0 },
      aggregates: [{ fn: 'mean' }, { fn: 'max' }, { fn: 'count', as: 'readings' }],
    })],
  },
];

/** Invalid files: the exact field path the ConfigError must name. */
const INVALID: { name: string; text: string; field: string; source?: string }[] = [
  // The document as a whole
  { name: 'unterminated flow sequence is not YAML', text: 'pipelines: [', field: 'pipeline file' },
  { name: 'tab indentation is not YAML; the source name is the field', text: 'name: x\nwindow:\n\ttype: count\n', field: 'p.yaml', source: 'p.yaml' },
  { name: 'unterminated JSON object', text: '{"name": "x", "window": {"type": "count"', field: 'pipeline file' },
  { name: 'JSON with an empty value is YAML null, so the field is named', text: '{"name": "x", "window": , "aggregates": ["count"]}', field: '[0].window' },
  { name: 'duplicate YAML keys', text: 'name: a\nname: b\nwindow: { type: count, size: 1 }\naggregates: [count]\n', field: 'pipeline file' },
  { name: 'empty document', text: '', field: '(top level)' },
  { name: 'a bare scalar', text: 'just some words', field: '(top level)' },
  { name: 'empty top-level list', text: '[]', field: '(top level)' },
  { name: 'empty pipelines list', text: 'pipelines: []', field: 'pipelines' },
  { name: 'pipelines is not a list', text: 'pipelines: { name: a }', field: 'pipelines' },
  { name: 'unknown top-level key next to pipelines', text: 'version: 1\npipelines: []', field: '(top level).version' },
  { name: 'a pipeline that is not a mapping', text: 'pipelines: [5]', field: 'pipelines[0]' },
  // Pipeline-level
  { name: 'unknown pipeline key', text: yaml1('windw: 1'), field: '[0].windw' },
  { name: 'missing name', text: 'window: { type: count, size: 1 }\naggregates: [count]', field: '[0].name' },
  { name: 'name with a space', text: yaml1('', '"has space"'), field: '[0].name' },
  { name: 'duplicate pipeline names', text: `pipelines:\n  - ${yaml1('', 'a').trim().split('\n').join('\n    ')}\n  - ${yaml1('', 'a').trim().split('\n').join('\n    ')}\n`, field: 'pipelines[1].name' },
  // Window
  { name: 'missing window', text: 'name: p\naggregates: [count]', field: '[0].window' },
  { name: 'window is not a mapping', text: withWindow('tumbling'), field: '[0].window' },
  { name: 'unknown window type', text: withWindow('{ type: sliding, size: 10s }'), field: '[0].window.type' },
  { name: 'missing window size', text: withWindow('{ type: tumbling }'), field: '[0].window.size' },
  { name: 'bad duration unit', text: withWindow('{ type: tumbling, size: 10 parsecs }'), field: '[0].window.size' },
  { name: 'zero size', text: withWindow('{ type: tumbling, size: 0s }'), field: '[0].window.size' },
  { name: 'negative size', text: withWindow('{ type: tumbling, size: -5 }'), field: '[0].window.size' },
  { name: 'fractional millisecond', text: withWindow('{ type: tumbling, size: 1.0005s }'), field: '[0].window.size' },
  { name: 'bad allowedLateness', text: withWindow('{ type: tumbling, size: 1s, allowedLateness: soon }'), field: '[0].window.allowedLateness' },
  { name: 'bad offset', text: withWindow('{ type: tumbling, size: 1s, offset: [1] }'), field: '[0].window.offset' },
  { name: 'unknown key in tumbling window', text: withWindow('{ type: tumbling, size: 1s, slide: 1s }'), field: '[0].window.slide' },
  { name: 'slide greater than size', text: withWindow('{ type: hopping, size: 1m, slide: 61s }'), field: '[0].window.slide' },
  { name: 'hopping without slide', text: withWindow('{ type: hopping, size: 1m }'), field: '[0].window.slide' },
  { name: 'session without gap', text: withWindow('{ type: session, maxDuration: 1h }'), field: '[0].window.gap' },
  { name: 'session with zero maxDuration', text: withWindow('{ type: session, gap: 1s, maxDuration: 0 }'), field: '[0].window.maxDuration' },
  { name: 'count window with allowedLateness', text: withWindow('{ type: count, size: 3, allowedLateness: 1s }'), field: '[0].window.allowedLateness' },
  { name: 'fractional count size', text: withWindow('{ type: count, size: 2.5 }'), field: '[0].window.size' },
  { name: 'count size given as a duration', text: withWindow('{ type: count, size: 10s }'), field: '[0].window.size' },
  // Watermark
  { name: 'unknown watermark key', text: yaml1('watermark: { maxOutOfOrderMs: 5000 }'), field: '[0].watermark.maxOutOfOrderMs' },
  { name: 'bad watermark per', text: yaml1('watermark: { per: sensor }'), field: '[0].watermark.per' },
  { name: 'bad idleTimeout', text: yaml1('watermark: { idleTimeout: -1s }'), field: '[0].watermark.idleTimeout' },
  // Aggregates
  { name: 'missing aggregates', text: 'name: p\nwindow: { type: count, size: 1 }', field: '[0].aggregates' },
  { name: 'empty aggregates', text: withAggs('[]'), field: '[0].aggregates' },
  {
    name: 'unknown aggregate fn in the second pipeline',
    text: `pipelines:\n  - { name: a, window: { type: count, size: 1 }, aggregates: [count] }\n  - { name: b, window: { type: count, size: 1 }, aggregates: [count, mean, median] }\n`,
    field: 'pipelines[1].aggregates[2].fn',
  },
  { name: 'aggregate without fn', text: withAggs('[{ field: value }]'), field: '[0].aggregates[0].fn' },
  { name: 'p100 is not a quantile', text: withAggs('[p100]'), field: '[0].aggregates[0].fn' },
  { name: 'unknown aggregate key', text: withAggs('[{ fn: mean, name: m }]'), field: '[0].aggregates[0].name' },
  { name: 'q on a non-quantile', text: withAggs('[count, { fn: mean, q: 0.5 }]'), field: '[0].aggregates[1].q' },
  { name: 'quantile without q', text: withAggs('[{ fn: quantile }]'), field: '[0].aggregates[0].q' },
  { name: 'q out of range', text: withAggs('[{ fn: quantile, q: 1.5 }]'), field: '[0].aggregates[0].q' },
  { name: 'accuracy on mean', text: withAggs('[{ fn: mean, accuracy: 0.01 }]'), field: '[0].aggregates[0].accuracy' },
  { name: 'accuracy out of range', text: withAggs('[{ fn: p95, accuracy: 1 }]'), field: '[0].aggregates[0].accuracy' },
  { name: 'precision out of range', text: withAggs('[{ fn: distinct, field: deviceId, precision: 20 }]'), field: '[0].aggregates[0].precision' },
  { name: 'precision on count', text: withAggs('[{ fn: count, precision: 12 }]'), field: '[0].aggregates[0].precision' },
  { name: 'numeric aggregate of a text field', text: withAggs('[{ fn: mean, field: deviceId }]'), field: '[0].aggregates[0].field' },
  { name: 'aggregate of an unknown field', text: withAggs('[{ fn: max, field: temperature }]'), field: '[0].aggregates[0].field' },
  { name: 'empty as', text: withAggs('[{ fn: max, as: "" }]'), field: '[0].aggregates[0].as' },
  { name: 'duplicate default output names', text: withAggs('[mean, max, mean]'), field: '[0].aggregates[2]' },
  { name: 'duplicate explicit output names', text: withAggs('[{ fn: max, as: peak }, { fn: min, as: peak }]'), field: '[0].aggregates[1]' },
  { name: 'p95 and quantile 0.95 share an output name', text: withAggs('[p95, { fn: quantile, q: 0.95 }]'), field: '[0].aggregates[1]' },
  { name: 'as clashing with a default name', text: withAggs('[count, { fn: sum, as: count }]'), field: '[0].aggregates[1]' },
  // Filter
  { name: 'invalid regular expression', text: yaml1('filter: { deviceId: { matches: "env-(" } }'), field: '[0].filter.deviceId.matches' },
  { name: 'unknown condition op', text: yaml1('filter: { value: { between: [1, 2] } }'), field: '[0].filter.value.between' },
  { name: 'unknown filter field', text: yaml1('filter: { temperature: { gt: 1 } }'), field: '[0].filter.temperature' },
  { name: 'empty in list', text: yaml1('filter: { metric: { in: [] } }'), field: '[0].filter.metric.in' },
  { name: 'non-literal in in list', text: yaml1('filter: { metric: { in: [a, [b]] } }'), field: '[0].filter.metric.in[1]' },
  { name: 'list as a comparison literal', text: yaml1('filter: { value: { eq: [1, 2] } }'), field: '[0].filter.value.eq' },
  { name: 'list as a bare filter value', text: yaml1('filter: { metric: [a, b] }'), field: '[0].filter.metric' },
  { name: 'empty filter mapping', text: yaml1('filter: {}'), field: '[0].filter' },
  { name: 'empty filter list', text: yaml1('filter: []'), field: '[0].filter' },
  { name: 'bad field in the second filter alternative', text: yaml1('filter: [{ metric: a }, { bogus: 1 }]'), field: '[0].filter[1].bogus' },
  // Map
  { name: 'map operand not a number', text: yaml1('map: { value: { mul: "2" } }'), field: '[0].map.value.mul' },
  { name: 'unknown map op', text: yaml1('map: { value: { pow: 2 } }'), field: '[0].map.value.pow' },
  { name: 'map from unknown field', text: yaml1('map: { value: { from: humidity } }'), field: '[0].map.value.from' },
  { name: 'map of an unknown target', text: yaml1('map: { temperature: 1 }'), field: '[0].map.temperature' },
  { name: 'empty map', text: yaml1('map: {}'), field: '[0].map' },
  // Steps
  { name: 'steps together with filter', text: yaml1('filter: { metric: a }\nsteps: [{ map: { value: 1 } }]'), field: '[0].steps' },
  { name: 'steps not a list', text: yaml1('steps: { filter: { metric: a } }'), field: '[0].steps' },
  { name: 'a step with both filter and map', text: yaml1('steps: [{ filter: { metric: a }, map: { value: 1 } }]'), field: '[0].steps[0]' },
  { name: 'a step with neither', text: yaml1('steps: [{ filter: { metric: a } }, {}]'), field: '[0].steps[1]' },
  { name: 'a step with an unknown key', text: yaml1('steps: [{ filter: { metric: a } }, { where: { metric: a } }]'), field: '[0].steps[1].where' },
  { name: 'bad condition inside a step', text: yaml1('steps: [{ map: { value: 1 } }, { filter: { value: { gt: {} } } }]'), field: '[0].steps[1].filter.value.gt' },
  // keyBy
  { name: 'keyBy of an unknown field', text: yaml1('keyBy: [deviceId, site]'), field: '[0].keyBy[1]' },
  { name: 'keyBy is a number', text: yaml1('keyBy: 3'), field: '[0].keyBy' },
];

function assertConfigError(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'E_CONFIG');
    assert.equal(e.field, field);
    assert.ok(e.message.startsWith(`${field}: `), e.message);
    return true;
  });
}

describe('parsePipelineFile: valid files', () => {
  for (const c of VALID) {
    test(c.name, () => {
      assert.deepEqual(parsePipelineFile(c.text), c.want);
    });
  }

  test('YAML and the equivalent JSON give the same plans', () => {
    const y = `pipelines:
  - name: env
    watermark: { maxOutOfOrder: 5s, per: device }
    filter: { metric: { in: [temperature] }, value: { gt: -40 } }
    keyBy: [deviceId]
    window: { type: session, gap: 20s, allowedLateness: 1m }
    aggregates: [count, p95, { fn: distinct, field: tags.site }]
`;
    const j = JSON.stringify({
      pipelines: [{
        name: 'env',
        watermark: { maxOutOfOrder: '5s', per: 'device' },
        filter: { metric: { in: ['temperature'] }, value: { gt: -40 } },
        keyBy: ['deviceId'],
        window: { type: 'session', gap: 20000, allowedLateness: '1m' },
        aggregates: ['count', 'p95', { fn: 'distinct', field: 'tags.site' }],
      }],
    }, null, 2);
    const a = parsePipelineFile(y);
    assert.deepEqual(a, parsePipelineFile(j));
    assert.equal(a.length, 1);
    assert.deepEqual(a[0]!.window, { type: 'session', gapMs: 20_000, maxDurationMs: null, allowedLatenessMs: 60_000 });
  });
});

describe('parsePipelineFile: invalid files throw ConfigError naming the field', () => {
  for (const c of INVALID) {
    test(`${c.name} → ${c.field}`, () => {
      assertConfigError(() => (c.source === undefined ? parsePipelineFile(c.text) : parsePipelineFile(c.text, c.source)), c.field);
    });
  }

  test('a YAML syntax error keeps the parser error as cause', () => {
    try {
      parsePipelineFile('pipelines: [');
      assert.fail('did not throw');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.ok(e.cause instanceof Error);
    }
  });
});
