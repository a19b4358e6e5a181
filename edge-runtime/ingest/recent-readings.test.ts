import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hasOwnIdentity, RecentReadings } from './recent-readings.ts';
import { seededRandom as rng } from '../../cloud-sync/seeded-random.ts';

const T0 = Date.UTC(2026, 0, 1);


describe('recent readings (de-duplication table)', () => {
  test('a second admission of an identity is a duplicate of the first, whatever else differs', () => {
    const r = new RecentReadings(8);
    const t = r.admit('env-0001', 'temperature', T0);
    assert.ok(t >= 0);
    assert.equal(r.admit('env-0001', 'temperature', T0), -1 - t, 'duplicate: −1 − the original ticket');
    assert.equal(r.ticketOf('env-0001', 'temperature', T0), t);
    assert.equal(r.size, 1);
  });

  test('every part of the identity counts, and the encoding is unambiguous', () => {
    const r = new RecentReadings(64);
    const ids: [string, string, number][] = [
      ['env-0001', 'temperature', T0],
      ['env-0002', 'temperature', T0],
      ['env-0001', 'humidity', T0],
      ['env-0001', 'temperature', T0 + 1],
      ['env-0001', 'temperature', T0 + 0.5],
      ['ab', 'c', T0], // length prefixes: not the same as ('a', 'bc')
      ['a', 'bc', T0],
      ['abc', '', T0],
      ['', 'abc', T0],
      ['a', 'b', 0],
      ['a', 'b', 2 ** 40],
      ['é', 'b', 0], // UTF-16 units, not bytes
      ['\u00e9\u0000', 'b', 0],
    ];
    for (const [d, m, e] of ids) assert.ok(r.admit(d, m, e) >= 0, `${d}|${m}|${e} is new`);
    for (const [d, m, e] of ids) assert.ok(r.admit(d, m, e) < 0, `${d}|${m}|${e} again is a duplicate`);
    assert.ok(r.admit('a', 'b', -0) < 0, '−0 is the identity of 0');
  });

  test('capacity: the oldest identity is forgotten first (FIFO by first admission; a duplicate does not refresh it)', () => {
    const r = new RecentReadings(3);
    for (const e of [1, 2, 3]) r.admit('d', 'm', e);
    assert.ok(r.admit('d', 'm', 1) < 0, 'a duplicate does not move 1 to the back');
    r.admit('d', 'm', 4); // evicts 1
    assert.equal(r.size, 3);
    assert.equal(r.ticketOf('d', 'm', 1), -1);
    assert.deepEqual([2, 3, 4].map((e) => r.ticketOf('d', 'm', e) >= 0), [true, true, true]);
    assert.ok(r.admit('d', 'm', 1) >= 0, '1 is new again'); // evicts 2
    assert.equal(r.ticketOf('d', 'm', 2), -1);
    assert.deepEqual([3, 4, 1].map((e) => r.ticketOf('d', 'm', e) >= 0), [true, true, true]);
  });

  test('remove (a failed append): the identity is new again; a stale ticket removes nothing', () => {
    const r = new RecentReadings(2);
    const a = r.admit('d', 'm', 1);
    const b = r.admit('d', 'm', 2);
    assert.equal(r.remove(a), true);
    assert.equal(r.remove(a), false, 'gone already');
    assert.equal(r.size, 1);
    assert.ok(r.admit('d', 'm', 2) < 0, 'the others stay');
    const a2 = r.admit('d', 'm', 1);
    assert.ok(a2 >= 0 && a2 !== a, 'taken afresh, with a new ticket');
    r.admit('d', 'm', 3); // ring position of b reused: b evicted
    assert.equal(r.ticketOf('d', 'm', 2), -1);
    assert.equal(r.remove(b), false, 'an evicted ticket whose ring position was reused removes nothing');
    assert.ok(r.ticketOf('d', 'm', 3) >= 0 && r.ticketOf('d', 'm', 1) >= 0);
  });

  test('against a model: random admits and removes over a small universe (dense clusters, backward-shift deletion)', () => {
    for (const [capacity, universe, seed] of [[5, 12, 1], [16, 40, 2], [64, 100, 3], [100, 1000, 4]] as const) {
      const next = rng(seed);
      const r = new RecentReadings(capacity);
      // The model: live tickets in admission order, ticket → identity; eviction drops ticket t − capacity.
      const live = new Map<number, number>(); // ticket → identity
      const byId = new Map<number, number>(); // identity → ticket
      let nextTicket = 0;
      for (let step = 0; step < 20_000; step++) {
        const id = Math.floor(next() * universe);
        if (next() < 0.15 && byId.size > 0) {
          const tickets = [...live.keys()];
          const t = tickets[Math.floor(next() * tickets.length)]!;
          assert.equal(r.remove(t), true);
          byId.delete(live.get(t)!);
          live.delete(t);
          continue;
        }
        const got = r.admit(`dev-${id % 7}`, `m${id}`, T0 + id);
        const want = byId.get(id);
        if (want !== undefined) {
          assert.equal(got, -1 - want, `step ${step}: ${id} is a duplicate of ticket ${want}`);
          continue;
        }
        assert.equal(got, nextTicket, `step ${step}: ${id} is new`);
        const old = nextTicket - capacity;
        if (live.has(old)) {
          byId.delete(live.get(old)!);
          live.delete(old);
        }
        live.set(nextTicket, id);
        byId.set(id, nextTicket++);
        assert.equal(r.size, live.size);
      }
      for (let id = 0; id < universe; id++) assert.equal(r.ticketOf(`dev-${id % 7}`, `m${id}`, T0 + id), byId.get(id) ?? -1, `capacity ${capacity}: ${id}`);
    }
  });

  test('3 million distinct identities: no false duplicate; the 64-bit pairs are distinct where one 32-bit hash alone collides', () => {
    const n = 3_000_000;
    const next = rng(42);
    const metrics = ['temperature', 'humidity', 'pressure', 'co2', 'pm25', 'battery'];
    // Half fleet-like (few devices, regular times), half random device ids and fractional times; distinct by construction.
    const identity = (i: number): [string, string, number] => (i % 2 === 0
      ? [`env-${String(i % 500).padStart(4, '0')}`, metrics[i % 6]!, T0 + Math.floor(i / 500) * 1000]
      : [`dev-${Math.floor(next() * 1e9).toString(36)}`, metrics[Math.floor(next() * 6)]!, T0 + i * 3 + 0.25]);
    const r = new RecentReadings(1 << 20);
    const pairs = new BigUint64Array(n);
    const low = new Uint32Array(pairs.buffer); // little-endian: [2i] low word, [2i + 1] high word
    const h1s = new Uint32Array(n);
    const ids: [string, string, number][] = [];
    let falseDuplicates = 0;
    for (let i = 0; i < n; i++) {
      const [d, m, e] = identity(i);
      if (i >= n - 1000) ids.push([d, m, e]);
      if (r.admit(d, m, e) < 0) falseDuplicates++;
      const [h1, h2] = r.hashPair(d, m, e);
      low[2 * i] = h2;
      low[2 * i + 1] = h1;
      h1s[i] = h1;
    }
    assert.equal(falseDuplicates, 0, 'no new identity taken for a remembered one');
    for (const [d, m, e] of ids) assert.ok(r.admit(d, m, e) < 0, 'the recent ones are remembered');
    const equalNeighbours = (a: BigUint64Array | Uint32Array): number => {
      a.sort();
      let c = 0;
      for (let i = 1; i < a.length; i++) if (a[i] === a[i - 1]) c++;
      return c;
    };
    assert.equal(equalNeighbours(pairs), 0, 'no two identities share both hashes');
    const single = equalNeighbours(h1s);
    // Birthday bound: n² / 2^33 ≈ 1,048 expected; this is why the table stores two hashes.
    assert.ok(single > 500 && single < 2000, `one 32-bit hash alone: ${single} collisions`);
  });

  test('a reading stamped with its arrival time has no identity of its own (never de-duplicated)', () => {
    assert.equal(hasOwnIdentity({ eventTime: T0, arrivalTime: T0 }), false);
    assert.equal(hasOwnIdentity({ eventTime: T0, arrivalTime: T0 + 3 }), true);
  });

  test('bad capacities are refused', () => {
    for (const c of [0, -1, 1.5, NaN, 2 ** 25]) assert.throws(() => new RecentReadings(c), RangeError);
    assert.equal(new RecentReadings(131_072).bytes, 4.5 * 1024 ** 2, '4.5 MiB for the default window');
  });
});
