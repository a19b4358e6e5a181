import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketSizeGuard, type GuardVerdict } from './packet-size-guard.ts';

/** One MQTT packet: type byte, Remaining Length as a variable byte integer, body. */
function packet(bodyLen: number, type = 0x30): Uint8Array {
  const len: number[] = [];
  let x = bodyLen;
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    len.push(b);
  } while (x > 0);
  const out = new Uint8Array(1 + len.length + bodyLen);
  out[0] = type;
  out.set(len, 1);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Feeds `bytes` in chunks of `size`; returns the first non-ok verdict and how many bytes had been fed by then. */
function feed(g: PacketSizeGuard, bytes: Uint8Array, size: number): { verdict: GuardVerdict; at: number } {
  for (let i = 0; i < bytes.length; i += size) {
    const v = g.push(bytes.subarray(i, i + size));
    if (v !== 'ok') return { verdict: v, at: Math.min(i + size, bytes.length) };
  }
  return { verdict: 'ok', at: bytes.length };
}

describe('PacketSizeGuard', () => {
  const LIMIT = 1000;
  const cases: { name: string; bytes: Uint8Array; verdict: GuardVerdict }[] = [
    { name: 'small packets', bytes: concat(packet(0, 0xc0), packet(10), packet(127), packet(128)), verdict: 'ok' },
    { name: 'exactly at the limit (1 + 2 + 997)', bytes: packet(997), verdict: 'ok' },
    { name: 'one byte over the limit', bytes: packet(998), verdict: 'too-large' },
    { name: 'fine packets, then a 256 MiB announcement', bytes: concat(packet(20), packet(268_435_455).subarray(0, 5)), verdict: 'too-large' },
    { name: 'a five-byte remaining length', bytes: Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), verdict: 'malformed' },
  ];
  for (const c of cases) {
    for (const size of [1, 2, 3, 7, 64, 100_000]) {
      test(`${c.name}, chunks of ${size}`, () => {
        const g = new PacketSizeGuard(LIMIT);
        assert.equal(feed(g, c.bytes, size).verdict, c.verdict);
      });
    }
  }

  test('a too-large packet is reported from its header, before its body arrives', () => {
    const g = new PacketSizeGuard(LIMIT);
    const big = packet(5000);
    assert.deepEqual(feed(g, big, 1), { verdict: 'too-large', at: 3 });
  });

  test('the verdict sticks', () => {
    const g = new PacketSizeGuard(10);
    assert.equal(g.push(packet(50).subarray(0, 2)), 'too-large');
    assert.equal(g.push(packet(1)), 'too-large');
  });
});
