import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hashValue, type Hash53 } from './hash.ts';

function hash(v: string | number | boolean): [number, number] {
  const o: Hash53 = { hi: 0, lo: 0 };
  hashValue(v, o);
  return [o.hi, o.lo];
}

function bits53(v: string | number | boolean): number[] {
  const [hi, lo] = hash(v);
  const out: number[] = [];
  for (let b = 31; b >= 0; b--) out.push((hi >>> b) & 1);
  for (let b = 20; b >= 0; b--) out.push((lo >>> b) & 1);
  return out;
}

describe('hash53', () => {
  // Pinned: persisted HyperLogLog states from earlier builds must keep merging
  // with new ones. If one of these changes, bump HLL_STATE_VERSION.
  const golden: [string | number | boolean, number, number][] = [
    ['', 0x6eaa8dfb, 0x1ef82b],
    ['a', 0x5d2e2484, 0x0d77f8],
    ['ab', 0x020ed28d, 0x0ec405],
    ['abc', 0x8719789a, 0x142573],
    ['sensor-17', 0x94c5e400, 0x1ec579],
    ['température', 0x79744239, 0x1f245d],
    ['😀', 0x2e42025e, 0x1ba4d4],
    [0, 0xdfeee4b3, 0x14c000],
    [1, 0x0779c0e2, 0x1312af],
    [-1.5, 0x000923cd, 0x1436ba],
    [21.5, 0x59679c91, 0x0a665e],
    [NaN, 0x92a70187, 0x01e912],
    [Infinity, 0xb13f4052, 0x1d0412],
    [true, 0x7df80456, 0x1e4b64],
    [false, 0x26ea31b3, 0x0439c2],
  ];
  for (const [v, hi, lo] of golden) {
    test(`golden value of ${JSON.stringify(v) ?? String(v)} (${typeof v})`, () => assert.deepEqual(hash(v), [hi, lo]));
  }

  test('equal values hash equally, different types differently', () => {
    assert.deepEqual(hash(-0), hash(0));
    assert.deepEqual(hash(1.0), hash(1));
    assert.deepEqual(hash(0 / 0), hash(NaN));
    assert.notDeepEqual(hash(1), hash('1'));
    assert.notDeepEqual(hash(1), hash(true));
    assert.notDeepEqual(hash('true'), hash(true));
    assert.notDeepEqual(hash(0), hash(false));
    assert.notDeepEqual(hash('a\u0000'), hash('a'));
  });

  test('outputs fit in 53 bits', () => {
    for (let i = 0; i < 1000; i++) {
      const [hi, lo] = hash(`k${i}`);
      assert.ok(Number.isInteger(hi) && hi >= 0 && hi < 2 ** 32);
      assert.ok(Number.isInteger(lo) && lo >= 0 && lo < 2 ** 21);
    }
  });

  test('every output bit is balanced over sequential strings, integers and readings', () => {
    const inputs: (string | number)[] = [];
    for (let i = 0; i < 10_000; i++) inputs.push(`device-${i}`, i, 20 + i / 1000);
    const ones = new Array<number>(53).fill(0);
    for (const v of inputs) bits53(v).forEach((b, k) => (ones[k]! += b));
    // 30,000 inputs: σ of a fair bit's frequency is 0.0029; allow 5σ.
    for (let k = 0; k < 53; k++) {
      const f = ones[k]! / inputs.length;
      assert.ok(Math.abs(f - 0.5) < 0.0145, `bit ${k}: ${f}`);
    }
  });

  test('avalanche: changing one input character flips about half of the output bits', () => {
    let flips = 0;
    let n = 0;
    for (let i = 0; i < 2000; i++) {
      const s = `gw-3/sensor-${i}`;
      const a = bits53(s);
      const b = bits53(s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) ^ 1));
      flips += a.reduce((acc, x, k) => acc + (x ^ b[k]!), 0);
      n++;
    }
    const mean = flips / n;
    assert.ok(Math.abs(mean - 26.5) < 0.5, `mean flipped bits ${mean}`);
  });
});
