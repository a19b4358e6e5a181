import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from 'cbor-x';
import { encBytes, encNum, StateReader } from './state-codec.ts';
import { SeenSet } from './seen-set.ts';

describe('state codec', () => {
  test('numbers survive JSON and CBOR bit for bit, −0 and non-finite included', () => {
    const xs = [0, -0, 1.5, -1e-300, Number.MAX_VALUE, Number.MIN_VALUE, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0.1 + 0.2];
    for (const via of [(o: unknown) => JSON.parse(JSON.stringify(o)) as unknown, (o: unknown) => decode(encode(o)) as unknown]) {
      const r = new StateReader('t', via({ xs: xs.map(encNum), one: encNum(-0) }));
      r.nums('xs', xs.length).forEach((x, i) => assert.ok(Object.is(x, xs[i]), `${xs[i]} came back as ${x}`));
      assert.ok(Object.is(r.num('one'), -0));
    }
  });

  test('bytes round-trip and must have the right length', () => {
    const a = new Uint32Array([1, 0xffffffff, 42]);
    const b = new Uint32Array(3);
    new StateReader('t', { a: encBytes(a) }).bytes('a', b);
    assert.deepEqual(b, a);
    assert.throws(() => new StateReader('t', { a: encBytes(a) }).bytes('a', new Uint32Array(2)), /holds 12 bytes, expected 8/);
  });

  test('wrong shapes are refused with E_STATE_VERSION', () => {
    const r = new StateReader('t', { n: 'x', l: [1, 'y'], b: 1 });
    for (const f of [() => r.num('n'), () => r.nums('l'), () => r.bool('b'), () => r.int('missing'), () => r.nums('l', 3)]) {
      assert.throws(f, (e: unknown) => (e as { code?: string }).code === 'E_STATE_VERSION');
    }
  });
});

describe('SeenSet', () => {
  test('add reports new keys once; has does not add', () => {
    const s = new SeenSet(10);
    assert.equal(s.has(5), false);
    assert.equal(s.add(5), true);
    assert.equal(s.add(5), false);
    assert.equal(s.has(5), true);
    assert.equal(s.has(5 + 1024), true, 'keys equal modulo 2^bits share a slot');
    assert.equal(s.bytes, 128);
  });
});
