import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SqliteColdStores } from './cold-store.ts';
import { MemoryColdStore, type ColdStore } from '../engine/keyed-state.ts';

/** One contract for both cold stores: the SQLite spill must behave exactly like the sorted Map. */
describe('cold stores agree (SQLite spill vs in-memory reference)', () => {
  let dir = '';
  let stores: SqliteColdStores;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'weir-cold-'));
    stores = new SqliteColdStores(join(dir, 'spill.db'));
  });
  after(() => {
    stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keyArb = fc.oneof(
    fc.constantFrom('1|a', '1|b', '10|a', '2|a', '-5|x', '1|', '1|\u00e9', '1|\ud83d\ude00', '1|\uffff', '1|a|b'),
    fc.tuple(fc.constantFrom('1|', '2|', '10|'), fc.string({ maxLength: 4, unit: 'binary' })).map(([p, s]) => p + s),
  );
  type Op = ['put', string, number] | ['del', string] | ['delPrefix', string] | ['scan', string] | ['get', string];
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.tuple(fc.constant('put' as const), keyArb, fc.integer()),
    fc.tuple(fc.constant('del' as const), keyArb),
    fc.tuple(fc.constant('delPrefix' as const), fc.constantFrom('1|', '2|', '10|', '1|a', '')),
    fc.tuple(fc.constant('scan' as const), fc.constantFrom('1|', '2|', '10|', '1|a', '')),
    fc.tuple(fc.constant('get' as const), keyArb),
  );

  test('same answers for random operation sequences, scans in JS string order', () => {
    let n = 0;
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const a: ColdStore = stores.forNamespace(`ns${n++}`);
        const b = new MemoryColdStore();
        for (const op of ops) {
          switch (op[0]) {
            case 'put': a.put([[op[1], { v: op[2] }]]); b.put([[op[1], { v: op[2] }]]); break;
            case 'del': a.delete([op[1]]); b.delete([op[1]]); break;
            case 'delPrefix': a.deletePrefix(op[1]); b.deletePrefix(op[1]); break;
            case 'get': assert.deepEqual(a.get(op[1]), b.get(op[1])); break;
            case 'scan': assert.deepEqual([...a.scanPrefix(op[1])], [...b.scanPrefix(op[1])]); break;
          }
        }
        assert.equal(a.size(), b.size());
      }),
      { seed: 17, numRuns: 300 },
    );
  });

  test('scans page through more rows than one page', () => {
    const a = stores.forNamespace('big');
    const rows = Array.from({ length: 3000 }, (_, i) => [`7|k${String(i).padStart(5, '0')}`, i] as const);
    a.put(rows);
    a.put([['8|z', 1], ['6|z', 1]]);
    const got = [...a.scanPrefix('7|')];
    assert.equal(got.length, 3000);
    assert.deepEqual(got[2999], ['7|k02999', 2999]);
    a.deletePrefix('7|');
    assert.equal(a.size(), 2);
  });
});
