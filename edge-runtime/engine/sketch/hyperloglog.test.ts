import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { encode, decode } from 'cbor-x';
import { HyperLogLog, type HyperLogLogState } from './hyperloglog.ts';
import { SketchError, type SketchErrorCode } from './errors.ts';

type Item = string | number | boolean;

function hllOf(items: Iterable<Item>, precision?: number): HyperLogLog {
  const h = new HyperLogLog(precision === undefined ? {} : { precision });
  for (const x of items) h.add(x);
  return h;
}

function throwsCode(fn: () => unknown, code: SketchErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof SketchError && e.code === code);
}

/** n distinct ids from a fixed seed (mulberry32), like device ids with random suffixes. */
function ids(n: number, seed: number): string[] {
  let s = seed >>> 0;
  const out = new Set<string>();
  while (out.size < n) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out.add(`gw-${seed}/dev-${((t ^ (t >>> 14)) >>> 0).toString(36)}`);
  }
  return [...out];
}

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -50, max: 50 }),
  fc.double({ noNaN: false }),
  fc.boolean(),
);
const items = fc.array(item, { maxLength: 400 });
const precision = fc.constantFrom(4, 6, 8, 10, 12);

describe('HyperLogLog', () => {
  test('rejects precisions outside [4, 16]', () => {
    for (const p of [3, 17, 12.5, NaN]) {
      throwsCode(() => new HyperLogLog({ precision: p }), 'E_SKETCH_ARGUMENT');
      throwsCode(() => HyperLogLog.standardError(p), 'E_SKETCH_ARGUMENT');
    }
  });

  test('standardError is 1.04/√m', () => {
    assert.deepEqual([4, 12, 16].map((p) => HyperLogLog.standardError(p)), [0.26, 1.04 / 64, 1.04 / 256]);
  });

  test('empty sketch', () => {
    const h = new HyperLogLog();
    assert.equal(h.estimate(), 0);
    assert.equal(h.isSparse, true);
    assert.deepEqual(h.toState(), { version: 1, precision: 12, hashes: [] });
    assert.equal(hllOf([], 4).estimate(), 0);
  });

  describe('estimate within 3 standard errors (p = 12, fixed inputs)', () => {
    const p = 12;
    const se = HyperLogLog.standardError(p);
    for (const n of [0, 1, 10, 100, 128, 129, 1000, 10_000, 100_000]) {
      test(`n = ${n}`, () => {
        const h = hllOf(ids(n, n + 1), p);
        const e = h.estimate();
        if (n <= 128) {
          assert.equal(h.isSparse, true);
          assert.equal(e, n); // exact while sparse
        } else {
          assert.equal(h.isSparse, false);
          assert.ok(Math.abs(e - n) <= 3 * se * n, `estimate ${e} for ${n}`);
        }
      });
    }
  });

  test('estimate within 3 standard errors at other precisions', () => {
    for (const p of [4, 8, 14, 16]) {
      for (const n of [1000, 20_000]) {
        const e = hllOf(ids(n, 7 * p + n), p).estimate();
        assert.ok(Math.abs(e - n) <= 3 * HyperLogLog.standardError(p) * n, `p=${p}: estimate ${e} for ${n}`);
      }
    }
  });

  test('numbers: 1 and 1.0 are one value, −0 and 0 are one, 1 and "1" and true are three', () => {
    assert.equal(hllOf([1, 1.0, -0, 0, NaN, 0 / 0]).estimate(), 3);
    assert.equal(hllOf([1, '1', true]).estimate(), 3);
    assert.equal(hllOf([true, false, true, 'true']).estimate(), 3);
  });

  test('sparse holds m/32 distinct hashes exactly, one more goes dense', () => {
    const h = hllOf(ids(128, 99));
    assert.equal(h.isSparse, true);
    assert.equal(h.estimate(), 128);
    assert.ok(h.byteSize() <= 80 + 128 * 8, `byteSize ${h.byteSize()}`);
    h.add('one more');
    assert.equal(h.isSparse, false);
    assert.ok(h.byteSize() >= 4096);
    assert.ok(Math.abs(h.estimate() - 129) <= 3, `estimate ${h.estimate()}`);
  });

  test('a key with 3 distinct values holds well under 4 KiB', () => {
    const h = hllOf(['a', 'b', 'c', 'a']);
    assert.ok(h.byteSize() < 200, `byteSize ${h.byteSize()}`);
  });

  test('p = 4 is dense from the start', () => {
    const h = hllOf(['x'], 4);
    assert.equal(h.isSparse, false);
    assert.equal(h.estimate(), 1);
  });

  test('duplicates change nothing', () => {
    fc.assert(
      fc.property(items, precision, (xs, p) => {
        const once = hllOf(xs, p);
        const again = hllOf([...xs].reverse().concat(xs, xs), p);
        assert.deepEqual(again.toState(), once.toState());
        assert.equal(again.estimate(), once.estimate());
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('merge(sketch(A), sketch(B)) has the state of sketch(A ∪ B), sparse and dense in any combination', () => {
    fc.assert(
      fc.property(items, items, precision, (xs, ys, p) => {
        const a = hllOf(xs, p);
        const b = hllOf(ys, p);
        const union = hllOf([...xs, ...ys], p).toState();
        const ab = a.clone();
        ab.merge(b);
        const ba = b.clone();
        ba.merge(a);
        assert.deepEqual(ab.toState(), union);
        assert.deepEqual(ba.toState(), union);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('merge covers each sparse/dense pairing at p = 8', () => {
    const small = ids(5, 1);
    const big = ids(300, 2);
    const pairs: [string[], string[]][] = [[small, small.slice(2)], [small, big], [big, small], [big, ids(300, 3)], [ids(6, 4), ids(6, 5)]];
    for (const [xs, ys] of pairs) {
      const m = hllOf(xs, 8);
      m.merge(hllOf(ys, 8));
      assert.deepEqual(m.toState(), hllOf([...xs, ...ys], 8).toState());
    }
  });

  test('merge with itself changes nothing; merge refuses another precision', () => {
    const h = hllOf(ids(500, 5));
    const before = h.toState();
    h.merge(h);
    assert.deepEqual(h.toState(), before);
    throwsCode(() => new HyperLogLog({ precision: 12 }).merge(new HyperLogLog({ precision: 11 })), 'E_SKETCH_MISMATCH');
  });

  test('state round-trips exactly through JSON and CBOR and behaves the same afterwards', () => {
    fc.assert(
      fc.property(items, items, precision, (xs, ys, p) => {
        const h = hllOf(xs, p);
        const st = h.toState();
        for (const copy of [JSON.parse(JSON.stringify(st)) as HyperLogLogState, decode(encode(st)) as HyperLogLogState]) {
          const r = HyperLogLog.fromState(copy);
          assert.deepEqual(r.toState(), st);
          assert.equal(r.estimate(), h.estimate());
          const h2 = h.clone();
          for (const y of ys) {
            r.add(y);
            h2.add(y);
          }
          assert.deepEqual(r.toState(), h2.toState());
          assert.equal(r.estimate(), h2.estimate());
        }
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('clone is independent', () => {
    const h = hllOf(['a']);
    const c = h.clone();
    c.add('b');
    assert.equal(h.estimate(), 1);
    assert.equal(c.estimate(), 2);
  });

  describe('fromState refuses malformed input', () => {
    const sparse = hllOf(['a', 'b', 'c']).toState() as { version: number; precision: number; hashes: number[] };
    const dense = hllOf(ids(1000, 8), 8).toState() as { version: number; precision: number; registers: string };
    const registers = Buffer.from(dense.registers, 'base64');
    const withRegister = (v: number): string => {
      const r = Buffer.from(registers);
      r[0] = v;
      return r.toString('base64');
    };
    const cases: [string, unknown][] = [
      ['null', null],
      ['array', []],
      ['wrong version', { ...sparse, version: 2 }],
      ['precision 3', { ...sparse, precision: 3 }],
      ['precision fractional', { ...sparse, precision: 12.5 }],
      ['neither hashes nor registers', { version: 1, precision: 12 }],
      ['both hashes and registers', { ...dense, hashes: [] }],
      ['hashes not an array', { ...sparse, hashes: '1,2' }],
      ['hashes unsorted', { ...sparse, hashes: [...sparse.hashes].reverse() }],
      ['hashes duplicated', { ...sparse, hashes: [sparse.hashes[0], sparse.hashes[0]] }],
      ['hash fractional', { ...sparse, hashes: [0.5] }],
      ['hash above 2^53', { ...sparse, hashes: [2 ** 53] }],
      ['hash negative', { ...sparse, hashes: [-1] }],
      ['more hashes than the sparse limit', { ...sparse, hashes: Array.from({ length: 129 }, (_, i) => i) }],
      ['registers not a string', { ...dense, registers: [...registers] }],
      ['registers of the wrong length', { ...dense, precision: 9 }],
      ['registers not canonical base64', { ...dense, registers: dense.registers + '!' }],
      ['register above 54 − p', { ...dense, registers: withRegister(47) }],
    ];
    for (const [name, st] of cases) {
      test(name, () => throwsCode(() => HyperLogLog.fromState(st as HyperLogLogState), 'E_SKETCH_STATE'));
    }
    test('the unmodified states and the highest register value are accepted', () => {
      assert.deepEqual(HyperLogLog.fromState(sparse).toState(), sparse);
      assert.deepEqual(HyperLogLog.fromState(dense).toState(), dense);
      assert.equal(HyperLogLog.fromState({ ...dense, registers: withRegister(46) }).isSparse, false);
    });
  });
});
