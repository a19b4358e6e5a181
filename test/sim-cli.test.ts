/** `weir-sim` as a real child process: record mode twice with one seed gives the same bytes; mistakes exit 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'firmware-sim/cli.ts', ...args], { encoding: 'utf8' });

test('record mode from the command line is byte-identical for one seed and writes labels beside the readings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-sim-cli-'));
  try {
    const args = (out: string): string[] => ['--devices', 'env-sensor=3,vibration=1,power-meter=1', '--duration', '20m', '--seed', '99',
      '--fault-rate', '48', '--bad-rate', '0.02', '--storm-every', '5m', '--record', join(dir, out), '--summary', join(dir, `${out}.summary.json`)];
    for (const out of ['a.ndjson', 'b.ndjson']) {
      const r = cli(args(out));
      assert.equal(r.status, 0, r.stderr);
    }
    const a = readFileSync(join(dir, 'a.ndjson'));
    assert.ok(a.length > 10_000);
    assert.ok(a.equals(readFileSync(join(dir, 'b.ndjson'))));
    assert.ok(readFileSync(join(dir, 'a.labels.ndjson')).equals(readFileSync(join(dir, 'b.labels.ndjson'))));
    const summary = JSON.parse(readFileSync(join(dir, 'a.ndjson.summary.json'), 'utf8')) as Record<string, number>;
    assert.equal(summary.devices, 5);
    assert.equal(summary.storms, 3);
    assert.equal(a.toString().trimEnd().split('\n').length, summary.readingsSent);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a usage mistake exits 2 and says which option', () => {
  const r = cli(['--devices', 'env-sensor=1', '--duration', '5', '--record', join(tmpdir(), 'never.ndjson')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^weir-sim: --duration: "5" is not a duration/);
});
