import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalView, type WindowRow } from './final-view.ts';
import type { WindowPayload } from './payloads.ts';

function row(seq: number, start: number, end: number, extra: Partial<WindowPayload> = {}, gateway = 'g', series = 's'): WindowRow {
  return {
    gateway, seq, series, replayed: false, receivedAtMs: 0, deviceId: 'd', metric: 'm',
    window: { type: 'window', pipeline: 'p', key: { deviceId: 'd' }, start, end, version: 1, count: 1, values: {}, ...extra },
  };
}

const shown = (rows: WindowRow[], from?: number, to?: number): string[] =>
  finalView(rows, from, to).map((r) => `${r.gateway}/${r.seq}:[${r.start},${r.end})v${r.version}`);

test('final view: table', () => {
  const cases: [string, WindowRow[], string[], number?, number?][] = [
    ['plain windows in time order', [row(2, 10, 20), row(1, 0, 10)], ['g/1:[0,10)v1', 'g/2:[10,20)v1']],
    ['the highest version wins', [row(1, 0, 10), row(2, 0, 10, { version: 3 }), row(3, 0, 10, { version: 2 })], ['g/2:[0,10)v3']],
    ['equal versions: the later seq', [row(1, 0, 10), row(5, 0, 10)], ['g/5:[0,10)v1']],
    ['count windows by index', [row(1, 0, 10, { index: 0 }), row(2, 0, 10, { index: 1 })], ['g/1:[0,10)v1', 'g/2:[0,10)v1']],
    ['a session retracts what it replaces', [row(1, 0, 10), row(2, 0, 25, { retracts: [{ start: 0, end: 10, version: 1 }] })], ['g/2:[0,25)v1']],
    ['a retraction of an older version spares a newer one', [row(1, 0, 10), row(2, 0, 10, { version: 2 }), row(3, 0, 25, { retracts: [{ start: 0, end: 10, version: 1 }] })],
      ['g/2:[0,10)v2', 'g/3:[0,25)v1']],
    ['a merged window replaces the windows inside it, not those outside',
      [row(1, 0, 10), row(2, 10, 20), row(3, 20, 30), row(4, 0, 20, { merged: { windows: 2, inexact: [] } })], ['g/4:[0,20)v1', 'g/3:[20,30)v1']],
    ['a bigger merged window replaces a smaller one',
      [row(4, 0, 20, { merged: { windows: 2, inexact: [] } }), row(7, 20, 40, { merged: { windows: 2, inexact: [] } }), row(9, 0, 40, { merged: { windows: 4, inexact: [] } })],
      ['g/9:[0,40)v1']],
    ['merges never cross series or gateways',
      [row(1, 0, 10, {}, 'g', 'other'), row(2, 0, 10, {}, 'h'), row(3, 0, 20, { merged: { windows: 2, inexact: [] } })],
      ['g/1:[0,10)v1', 'g/3:[0,20)v1', 'h/2:[0,10)v1']],
    ['the range keeps overlapping windows only', [row(1, 0, 10), row(2, 10, 20), row(3, 20, 30)], ['g/2:[10,20)v1'], 10, 20],
  ];
  for (const [name, rows, want, from, to] of cases) assert.deepEqual([name, shown(rows, from, to)], [name, want]);
});
