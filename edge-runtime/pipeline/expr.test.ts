import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileExpr, field, lit, type Expr } from './expr.ts';
import type { Reading } from '../engine/types.ts';

/** The reading every case is evaluated on. */
const R: Reading = {
  deviceId: 'env-01',
  metric: 'temperature',
  value: 21.5,
  eventTime: 1_000,
  arrivalTime: 1_250,
  tags: { site: 'lab', floor: 2, ok: true, num: '7' },
};
const BARE: Reading = { deviceId: 'env-02', metric: 'humidity', value: -3, eventTime: 5, arrivalTime: 5 };

const f = (name: string): Expr => ({ field: name });
const l = (v: number | string | boolean | null): Expr => ({ lit: v });
type Bin = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'add' | 'sub' | 'mul' | 'div';
const bin = (op: Bin, a: Expr, b: Expr): Expr => ({ op, args: [a, b] } as Expr);

const CASES: { name: string; e: Expr; r?: Reading; want: unknown }[] = [
  // fields and literals
  { name: 'deviceId', e: f('deviceId'), want: 'env-01' },
  { name: 'metric', e: f('metric'), want: 'temperature' },
  { name: 'value', e: f('value'), want: 21.5 },
  { name: 'eventTime', e: f('eventTime'), want: 1_000 },
  { name: 'arrivalTime', e: f('arrivalTime'), want: 1_250 },
  { name: 'string tag', e: f('tags.site'), want: 'lab' },
  { name: 'number tag', e: f('tags.floor'), want: 2 },
  { name: 'boolean tag', e: f('tags.ok'), want: true },
  { name: 'missing tag reads as null', e: f('tags.nope'), want: null },
  { name: 'tag of a reading without tags reads as null', e: f('tags.site'), r: BARE, want: null },
  { name: 'number literal', e: l(3), want: 3 },
  { name: 'string literal', e: l('x'), want: 'x' },
  { name: 'boolean literal', e: l(false), want: false },
  { name: 'null literal', e: l(null), want: null },
  // eq / ne: strict, no coercion
  { name: 'eq numbers', e: bin('eq', f('value'), l(21.5)), want: true },
  { name: 'eq strings', e: bin('eq', f('metric'), l('temperature')), want: true },
  { name: 'eq strings, different', e: bin('eq', f('metric'), l('humidity')), want: false },
  { name: 'eq number vs numeric string is false', e: bin('eq', f('tags.num'), l(7)), want: false },
  { name: 'eq boolean', e: bin('eq', f('tags.ok'), l(true)), want: true },
  { name: 'eq null matches a missing tag', e: bin('eq', f('tags.site'), l(null)), r: BARE, want: true },
  { name: 'eq null does not match a present tag', e: bin('eq', f('tags.site'), l(null)), want: false },
  { name: 'ne numbers', e: bin('ne', f('value'), l(21.5)), want: false },
  { name: 'ne number vs string is true', e: bin('ne', f('value'), l('21.5')), want: true },
  { name: 'ne null: tag present', e: bin('ne', f('tags.site'), l(null)), want: true },
  { name: 'ne null: tag missing', e: bin('ne', f('tags.site'), l(null)), r: BARE, want: false },
  // ordered comparisons: numbers with numbers, strings with strings, else false
  { name: 'lt numbers', e: bin('lt', f('value'), l(22)), want: true },
  { name: 'lt numbers, equal', e: bin('lt', f('value'), l(21.5)), want: false },
  { name: 'le numbers, equal', e: bin('le', f('value'), l(21.5)), want: true },
  { name: 'gt numbers', e: bin('gt', f('value'), l(21.5)), want: false },
  { name: 'ge numbers, equal', e: bin('ge', f('value'), l(21.5)), want: true },
  { name: 'gt negative', e: bin('gt', f('value'), l(-40)), r: BARE, want: true },
  { name: 'lt strings (lexicographic)', e: bin('lt', f('deviceId'), l('env-02')), want: true },
  { name: 'ge strings', e: bin('ge', f('metric'), l('temperaturf')), want: false },
  { name: 'lt string vs number is false', e: bin('lt', f('tags.num'), l(100)), want: false },
  { name: 'ge number vs string is false', e: bin('ge', f('value'), l('0')), want: false },
  { name: 'gt string vs number is false', e: bin('gt', f('metric'), l(0)), want: false },
  { name: 'le with a missing tag is false', e: bin('le', f('tags.nope'), l(1e9)), want: false },
  { name: 'lt booleans is false', e: bin('lt', l(false), l(true)), want: false },
  { name: 'ge null vs null is false', e: bin('ge', l(null), l(null)), want: false },
  { name: 'compare two fields', e: bin('lt', f('eventTime'), f('arrivalTime')), want: true },
  // arithmetic: numbers only, else null
  { name: 'add', e: bin('add', f('value'), l(0.5)), want: 22 },
  { name: 'sub', e: bin('sub', f('arrivalTime'), f('eventTime')), want: 250 },
  { name: 'mul', e: bin('mul', f('value'), l(2)), want: 43 },
  { name: 'div', e: bin('div', f('value'), l(4)), want: 5.375 },
  { name: 'div by zero is Infinity', e: bin('div', f('value'), l(0)), want: Number.POSITIVE_INFINITY },
  { name: 'add number and number tag', e: bin('add', f('value'), f('tags.floor')), want: 23.5 },
  { name: 'add with a string is null (no concatenation)', e: bin('add', f('value'), l('1')), want: null },
  { name: 'add two strings is null', e: bin('add', f('deviceId'), f('metric')), want: null },
  { name: 'mul with a numeric-string tag is null', e: bin('mul', f('tags.num'), l(2)), want: null },
  { name: 'sub with a boolean is null', e: bin('sub', f('tags.ok'), l(1)), want: null },
  { name: 'div with a missing tag is null', e: bin('div', l(1), f('tags.nope')), want: null },
  { name: 'nested arithmetic: (v * 1.8) + 32', e: bin('add', bin('mul', f('value'), l(1.8)), l(32)), r: { ...BARE, value: 100 }, want: 212 },
  { name: 'null propagates through nested arithmetic', e: bin('add', bin('mul', f('metric'), l(1.8)), l(32)), want: null },
  { name: 'compare on a null arithmetic result is false', e: bin('gt', bin('add', f('metric'), l(1)), l(-1e9)), want: false },
  // and / or / not: only `true` counts as true
  { name: 'and all true', e: { op: 'and', args: [l(true), bin('gt', f('value'), l(0)), bin('eq', f('metric'), l('temperature'))] }, want: true },
  { name: 'and one false', e: { op: 'and', args: [l(true), l(false)] }, want: false },
  { name: 'and with a truthy non-boolean is false', e: { op: 'and', args: [l(true), l(1)] }, want: false },
  { name: 'and of nothing is true', e: { op: 'and', args: [] }, want: true },
  { name: 'or one true', e: { op: 'or', args: [l(false), l(true)] }, want: true },
  { name: 'or with only truthy non-booleans is false', e: { op: 'or', args: [l('yes'), l(1), f('value')] }, want: false },
  { name: 'or of nothing is false', e: { op: 'or', args: [] }, want: false },
  { name: 'not true', e: { op: 'not', arg: l(true) }, want: false },
  { name: 'not false', e: { op: 'not', arg: l(false) }, want: true },
  { name: 'not of a non-boolean is true', e: { op: 'not', arg: l(1) }, want: true },
  { name: 'not of a type-mismatched comparison is true', e: { op: 'not', arg: bin('gt', f('metric'), l(0)) }, want: true },
  // in
  { name: 'in strings', e: { op: 'in', arg: f('metric'), values: ['humidity', 'temperature'] }, want: true },
  { name: 'in strings, absent', e: { op: 'in', arg: f('metric'), values: ['humidity'] }, want: false },
  { name: 'in numbers', e: { op: 'in', arg: f('tags.floor'), values: [1, 2, 3] }, want: true },
  { name: 'in: number is not its string', e: { op: 'in', arg: f('tags.floor'), values: ['2'] }, want: false },
  { name: 'in: string is not its number', e: { op: 'in', arg: f('tags.num'), values: [7] }, want: false },
  { name: 'in booleans', e: { op: 'in', arg: f('tags.ok'), values: [true] }, want: true },
  { name: 'in [null] matches a missing tag', e: { op: 'in', arg: f('tags.site'), values: [null, 'yard'] }, r: BARE, want: true },
  { name: 'in over an arithmetic result', e: { op: 'in', arg: bin('mul', f('value'), l(2)), values: [43] }, want: true },
  // matches: unanchored RegExp on strings only
  { name: 'matches anchored', e: { op: 'matches', arg: f('deviceId'), pattern: '^env-0[12]$' }, want: true },
  { name: 'matches is unanchored by default', e: { op: 'matches', arg: f('metric'), pattern: 'pera' }, want: true },
  { name: 'matches no match', e: { op: 'matches', arg: f('metric'), pattern: '^hum' }, want: false },
  { name: 'matches on a number is false', e: { op: 'matches', arg: f('value'), pattern: '21' }, want: false },
  { name: 'matches on a missing tag is false', e: { op: 'matches', arg: f('tags.nope'), pattern: '.*' }, want: false },
  { name: 'matches on a string tag', e: { op: 'matches', arg: f('tags.num'), pattern: '^\\d+$' }, want: true },
];

describe('compileExpr', () => {
  for (const c of CASES) {
    test(c.name, () => {
      assert.deepEqual(compileExpr(c.e)(c.r ?? R), c.want);
    });
  }

  test('a compiled expression is reusable across readings', () => {
    const e = compileExpr(bin('gt', f('value'), l(0)));
    assert.deepEqual([R, BARE, R].map(e), [true, false, true]);
  });

  test('an invalid regular expression fails at compile time, not per reading', () => {
    assert.throws(() => compileExpr({ op: 'matches', arg: f('deviceId'), pattern: '(' }), SyntaxError);
  });

  test('an unknown op is a TypeError', () => {
    assert.throws(() => compileExpr({ op: 'pow', args: [l(1), l(2)] } as unknown as Expr), TypeError);
  });
});

describe('expression builders produce the same trees', () => {
  const cases: { name: string; built: Expr; want: Expr }[] = [
    { name: 'field(...).gt(lit)', built: field('value').gt(3).expr, want: bin('gt', f('value'), l(3)) },
    { name: 'comparison with another builder', built: field('eventTime').le(field('arrivalTime')).expr, want: bin('le', f('eventTime'), f('arrivalTime')) },
    { name: 'eq null', built: field('tags.site').eq(null).expr, want: bin('eq', f('tags.site'), l(null)) },
    { name: 'chained arithmetic', built: field('value').mul(1.8).add(32).sub(lit(1)).div(2).expr, want: bin('div', bin('sub', bin('add', bin('mul', f('value'), l(1.8)), l(32)), l(1)), l(2)) },
    { name: 'and with several', built: field('value').ge(0).and(field('value').lt(10), field('metric').ne('x')).expr, want: { op: 'and', args: [bin('ge', f('value'), l(0)), bin('lt', f('value'), l(10)), bin('ne', f('metric'), l('x'))] } },
    { name: 'or', built: lit(true).or(lit(false)).expr, want: { op: 'or', args: [l(true), l(false)] } },
    { name: 'not', built: field('tags.ok').not().expr, want: { op: 'not', arg: f('tags.ok') } },
    { name: 'in', built: field('metric').in(['a', 1, null]).expr, want: { op: 'in', arg: f('metric'), values: ['a', 1, null] } },
    { name: 'matches', built: field('deviceId').matches('^a').expr, want: { op: 'matches', arg: f('deviceId'), pattern: '^a' } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(c.built, c.want);
    });
  }

  test('builder expressions evaluate', () => {
    const table: [Expr, unknown][] = [
      [field('value').mul(2).add(field('tags.floor')).expr, 45],
      [field('value').gt(20).and(field('tags.site').eq('lab')).expr, true],
      [field('value').gt(20).and(field('tags.site').eq('yard')).not().expr, true],
      [field('metric').add(1).eq(null).expr, true],
    ];
    for (const [e, want] of table) assert.deepEqual(compileExpr(e)(R), want, JSON.stringify(e));
  });
});
