import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsciiInterner } from './ascii-interner.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test('ASCII bytes give their string, the same one while it recurs; other bytes give null', () => {
  const t = new AsciiInterner();
  const src = bytes('xx dev-1 dev-1 é');
  const a = t.get(src, 3, 8);
  assert.equal(a, 'dev-1');
  assert.equal(t.get(src, 9, 14), 'dev-1');
  assert.equal(t.get(src, 0, 0), '');
  assert.equal(t.get(src, 15, src.length), null);
  assert.equal(t.get(bytes('\x7f'), 0, 1), '\x7f');
});

test('a table of one slot: every miss replaces it, every answer is still right', () => {
  const t = new AsciiInterner(1);
  for (const s of ['temperature', 'humidity', 'temperature', 'temperaturf', 'x', 'x', '']) assert.equal(t.get(bytes(s), 0, s.length), s);
});
