import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InOrderAcks } from './in-order-acks.ts';

describe('InOrderAcks', () => {
  const orders: number[][] = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2], [2, 0, 3, 1]];
  for (const order of orders) {
    test(`completing in order ${order.join(',')} releases 0,1,2,3`, () => {
      const acks = new InOrderAcks<string>();
      const released: string[] = [];
      const ps = [0, 1, 2, 3].map((i) => acks.add((r) => released.push(`${i}:${r}`)));
      for (const i of order) acks.complete(ps[i]!, `r${i}`);
      assert.deepEqual(released, ['0:r0', '1:r1', '2:r2', '3:r3']);
      assert.equal(acks.pending, 0);
    });
  }

  test('nothing is released past an incomplete head', () => {
    const acks = new InOrderAcks<number>();
    const released: number[] = [];
    const ps = [0, 1, 2].map((i) => acks.add(() => released.push(i)));
    acks.complete(ps[2]!, 0);
    acks.complete(ps[1]!, 0);
    assert.deepEqual(released, []);
    assert.equal(acks.pending, 3);
    acks.complete(ps[0]!, 0);
    assert.deepEqual(released, [0, 1, 2]);
  });

  test('clear() forgets pending acks; later completions release nothing', () => {
    const acks = new InOrderAcks<number>();
    const released: number[] = [];
    const p = acks.add(() => released.push(1));
    acks.clear();
    acks.complete(p, 0);
    assert.deepEqual(released, []);
    assert.equal(acks.pending, 0);
  });

  test('a long run with a lagging head keeps order and compacts', () => {
    const acks = new InOrderAcks<number>();
    const released: number[] = [];
    const ps = Array.from({ length: 5000 }, (_, i) => acks.add(() => released.push(i)));
    for (let i = 1; i < 5000; i++) acks.complete(ps[i]!, 0);
    assert.equal(released.length, 0);
    acks.complete(ps[0]!, 0);
    assert.deepEqual(released, Array.from({ length: 5000 }, (_, i) => i));
  });
});
