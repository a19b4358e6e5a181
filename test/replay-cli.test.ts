/**
 * `weir replay` end to end: the real CLI as a child process (through tsx, and
 * as the rollup bundle copied alone into an empty directory).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SAMPLE_PIPELINE = join(ROOT, 'edge-runtime/samples/pipeline.yaml');
const SAMPLE_INPUT = join(ROOT, 'edge-runtime/samples/readings.ndjson');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function spawnNode(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** The CLI from source, through tsx, from the repository root. */
const weir = (...args: string[]): Promise<Run> => spawnNode(['--import', 'tsx', 'edge-runtime/cli/main.ts', ...args], ROOT);

function lines(s: string): string[] {
  assert.ok(s === '' || s.endsWith('\n'), 'output ends with a newline');
  return s === '' ? [] : s.slice(0, -1).split('\n');
}

/** The summary line the CLI writes last on stderr (unless --quiet). */
function summaryOf(stderr: string): { readings: number; ticks: number; badLines: number; badByCode: Record<string, number>; pipelines: Record<string, Record<string, number>> } {
  const last = lines(stderr).at(-1) ?? '';
  assert.ok(last.startsWith('weir: {"summary":'), `no summary line in ${JSON.stringify(stderr)}`);
  return (JSON.parse(last.slice('weir: '.length)) as { summary: ReturnType<typeof summaryOf> }).summary;
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'weir-replay-cli-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const SMALL_PIPELINE = 'name: small\nkeyBy: deviceId\nwindow: { type: tumbling, size: 10s }\naggregates: [count, sum]\n';
const SMALL_INPUT = [
  '{"deviceId":"a","metric":"m","value":1,"ts":1000}',
  '{"deviceId":"a","metric":"m","value":"oops","ts":2000}',
  '{"deviceId":"a","metric":"m","value":2,"ts":3000}',
].join('\n') + '\n';
const SMALL_OUTPUT = '{"type":"window","pipeline":"small","key":{"deviceId":"a"},"start":0,"end":10000,"version":1,"count":2,"values":{"count":2,"sum":3}}\n';

describe('weir replay over the sample recording', () => {
  let first: Run;

  test('exits 0, writes parseable NDJSON, reports the two bad sample lines and goes on', async () => {
    first = await weir('replay', '--pipeline', SAMPLE_PIPELINE, '--input', SAMPLE_INPUT);
    assert.equal(first.code, 0, first.stderr);
    const out = lines(first.stdout).map((l) => JSON.parse(l) as { type: string; pipeline: string; start?: number; end?: number; version?: number; count?: number; values?: Record<string, number | null> });
    assert.ok(out.length > 100, `only ${out.length} outputs`);
    const windowLen: Record<string, number> = { 'minute-stats': 60_000, 'temperature-f-5m': 300_000 };
    for (const o of out) {
      assert.ok(o.type === 'window' || o.type === 'late' || (o.type === 'anomaly' && o.pipeline === 'anomalies'), o.type);
      assert.ok(['minute-stats', 'temperature-f-5m', 'device-sessions', 'anomalies'].includes(o.pipeline), o.pipeline);
      if (o.type !== 'window') continue;
      assert.ok(o.version! >= 1 && o.start! < o.end!);
      const len = windowLen[o.pipeline];
      if (len !== undefined) {
        assert.equal(o.end! - o.start!, len);
        assert.equal(o.start! % 60_000, 0, 'windows are epoch-aligned');
      }
      if (o.pipeline === 'minute-stats') assert.equal(o.values!.count, o.count);
      if (o.pipeline === 'temperature-f-5m') assert.equal(o.values!.readings, o.count);
    }
    const err = lines(first.stderr);
    assert.equal(err[0], `weir: ${SAMPLE_INPUT}: line 401: value must be a finite number, got "hot" [E_INPUT_RECORD]`);
    // The JSON.parse message text differs between Node versions.
    assert.ok(err[1]!.startsWith(`weir: ${SAMPLE_INPUT}: line 801: not valid JSON: `) && err[1]!.endsWith(' [E_INPUT_PARSE]'), err[1]);
    const s = summaryOf(first.stderr);
    assert.equal(err.length, 3);
    assert.deepEqual([s.readings, s.ticks, s.badLines, s.badByCode], [1440, 120, 2, { E_INPUT_RECORD: 1, E_INPUT_PARSE: 1 }]);
    assert.deepEqual(Object.keys(s.pipelines), ['minute-stats', 'temperature-f-5m', 'device-sessions', 'anomalies']);
    assert.ok(s.pipelines.anomalies!.anomalies >= 2, 'the sample has an outage and a spike to flag');
    const byType = (p: string, t: string, v1: boolean): number => out.filter((o) => o.pipeline === p && o.type === t && (t !== 'window' || (o.version === 1) === v1)).length;
    for (const p of Object.keys(s.pipelines)) {
      assert.equal(s.pipelines[p]!.windows, byType(p, 'window', true), `${p} windows`);
      assert.equal(s.pipelines[p]!.late, byType(p, 'late', true), `${p} late`);
    }
  });

  test('a second run and an --output run are byte-identical to the first', async () => {
    assert.ok(first !== undefined, 'the first test ran');
    const outFile = join(dir, 'sample-out.ndjson');
    const [again, toFile] = await Promise.all([
      weir('replay', '--pipeline', SAMPLE_PIPELINE, '--input', SAMPLE_INPUT),
      weir('replay', '--pipeline', SAMPLE_PIPELINE, '--input', SAMPLE_INPUT, '--output', outFile, '--quiet'),
    ]);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, first.stdout);
    assert.equal(again.stderr, first.stderr);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.equal(toFile.stdout, '');
    assert.equal(toFile.stderr, '', '--quiet writes nothing on stderr');
    assert.equal(readFileSync(outFile, 'utf8'), first.stdout);
  });
});

describe('weir replay: errors and exit codes', () => {
  test('a malformed pipeline file exits 2 naming the field and E_CONFIG', async () => {
    const p = file('bad-size.yaml', 'pipelines:\n  - name: ok\n    window: { type: count, size: 3 }\n    aggregates: [count]\n  - name: bad\n    window: { type: tumbling, size: 10 parsecs }\n    aggregates: [count]\n');
    const r = await weir('replay', '--pipeline', p, '--input', SAMPLE_INPUT);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^weir: error E_CONFIG: pipelines\[1\]\.window\.size: /);
    assert.equal(lines(r.stderr).length, 1);
  });

  test('a pipeline file that is not YAML exits 2 naming the file', async () => {
    const p = file('not-yaml.yaml', 'pipelines: [\n');
    const r = await weir('replay', '--pipeline', p, '--input', SAMPLE_INPUT);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.startsWith(`weir: error E_CONFIG: ${p}: not valid YAML/JSON`), r.stderr);
  });

  test('usage errors exit 2 with E_USAGE', async () => {
    const pipe = file('small.yaml', SMALL_PIPELINE);
    const cases: [string[], RegExp][] = [
      [['replay', '--pipeline', pipe], /^weir: error E_USAGE: replay needs --input FILE\n$/],
      [['replay', '--input', SAMPLE_INPUT], /^weir: error E_USAGE: replay needs --pipeline FILE\n$/],
      [['replay', '--pipeline', pipe, '--input', SAMPLE_INPUT, '--format', 'xml'], /^weir: error E_USAGE: --format must be ndjson or csv/],
      [['replay', '--pipeline', pipe, '--input', SAMPLE_INPUT, '--bogus'], /^weir: error E_USAGE: .*bogus/],
      [['frobnicate'], /^weir: error E_USAGE: unknown command "frobnicate"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => weir(...args)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, cases[i]![1]);
      assert.equal(r.stdout, '');
    });
  });

  test('a bad input line is reported with its line number and the run goes on; --strict exits 1', async () => {
    const pipe = file('small.yaml', SMALL_PIPELINE);
    const input = file('small.ndjson', SMALL_INPUT);
    const [lenient, strict, quiet] = await Promise.all([
      weir('replay', '--pipeline', pipe, '--input', input),
      weir('replay', '--pipeline', pipe, '--input', input, '--strict'),
      weir('replay', '--pipeline', pipe, '--input', input, '--quiet'),
    ]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.equal(lenient.stdout, SMALL_OUTPUT);
    assert.equal(lines(lenient.stderr)[0], `weir: ${input}: line 2: value must be a finite number, got "oops" [E_INPUT_RECORD]`);
    assert.deepEqual(summaryOf(lenient.stderr).badByCode, { E_INPUT_RECORD: 1 });

    assert.equal(strict.code, 1);
    assert.equal(strict.stdout, '');
    assert.equal(strict.stderr, 'weir: error E_INPUT_RECORD: line 2: value must be a finite number, got "oops"\n');

    assert.equal(quiet.code, 0);
    assert.equal(quiet.stdout, SMALL_OUTPUT);
    assert.equal(quiet.stderr, '');
  });

  test('CSV input with --format csv gives the same results as the NDJSON', async () => {
    const pipe = file('small.yaml', SMALL_PIPELINE);
    const input = file('small.txt', 'deviceId,metric,value,ts\na,m,1,1000\na,m,oops,2000\na,m,2,3000\n');
    const r = await weir('replay', '--pipeline', pipe, '--input', input, '--format', 'csv');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, SMALL_OUTPUT);
    assert.match(r.stderr, /line 3: value must be a finite number, got null \[E_INPUT_RECORD\]/);
  });

  test('a full disk while writing results is E_IO, exit 1, not a crash', { skip: process.platform !== 'linux' && 'needs /dev/full' }, async () => {
    const r = await weir('replay', '--pipeline', SAMPLE_PIPELINE, '--input', SAMPLE_INPUT, '--output', '/dev/full', '--quiet');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^weir: error E_IO: cannot write \/dev\/full: ENOSPC/);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
  });

  test('unreadable files exit 1 with E_IO', async () => {
    const pipe = file('small.yaml', SMALL_PIPELINE);
    const input = file('small.ndjson', SMALL_INPUT);
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    const cases: [string[], string][] = [
      [['--pipeline', pipe, '--input', join(dir, 'missing.ndjson')], `weir: error E_IO: cannot read ${join(dir, 'missing.ndjson')}: ENOENT`],
      [['--pipeline', pipe, '--input', sub], `weir: error E_IO: cannot read ${sub}: not a regular file`],
      [['--pipeline', join(dir, 'missing.yaml'), '--input', input], `weir: error E_IO: cannot read pipeline file ${join(dir, 'missing.yaml')}: ENOENT`],
      [['--pipeline', pipe, '--input', input, '--output', join(dir, 'no-such-dir', 'out.ndjson')], `weir: error E_IO: cannot write ${join(dir, 'no-such-dir', 'out.ndjson')}: ENOENT`],
    ];
    const runs = await Promise.all(cases.map(([args]) => weir('replay', ...args, '--quiet')));
    runs.forEach((r, i) => {
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.startsWith(cases[i]![1]), r.stderr);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  });
});

/**
 * A case computed by hand from the documented semantics (engine/windows/
 * time-window-operator.ts, engine/watermark-generator.ts, replay/replay.ts):
 * - one pipeline watermark W = max event time seen − maxOutOfOrder (2 s); it never moves back;
 * - windows are [start, end), aligned to the epoch; a window fires when W ≥ end;
 * - a reading for a fired window with W < end + allowedLateness updates it and a
 *   correction (version + 1) is emitted at the next watermark; at W ≥ end + allowedLateness
 *   it goes to the late side output, `missedWindows` counting the windows it missed;
 * - results equal those of a watermark after every record; keys come out in first-seen order;
 * - replay emits pipeline by pipeline within each batch (here: the whole file), then the
 *   end-of-data outputs pipeline by pipeline.
 * Mean is Welford's; the values are chosen so that every running mean is exact.
 */
describe('hand-checked replay', () => {
  const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a multiple of 10 s
  // [deviceId, value, event time in s after T0]. W after each record; `hand` = tumbling 10 s,
  // lateness 5 s, by device; `hop` = hopping 10 s / 5 s, no lateness, one global key.
  const RECORDS: [string, number, number][] = [
    ['d1', 2, 0], //     W = -2
    ['d1', 4, 4], //     W = 2
    ['d2', 10, 5], //    W = 3
    ['d1', 3, 9], //     W = 7   hop: [-5,5) fires {2,4}
    ['d1', 5, 8], //     out of order but on time (8 ≥ W 7); W = 7
    ['d2', 20, 11], //   W = 9
    ['d1', 4, 12], //    W = 10  hand: [0,10) fires: d1 {2,4,3,5}, d2 {10}. hop: [0,10) fires {2,4,10,3,5}
    ['d1', 6, 9.5], //   hand: [0,10) fired, W 10 < 10 + 5: accepted, correction pending.
    //                   hop: missed [0,10) (late, missedWindows 1), counted in [5,15)
    ['d1', 8, 14], //    W = 12  hand: correction [0,10) d1 v2 {2,4,3,5,6}
    ['d2', 30, 18], //   W = 16  hop: [5,15) fires {10,3,5,6,20,4,8}
    ['d1', 100, 3], //   hand: W 16 ≥ 10 + 5: late. hop: both its windows closed: late, missedWindows 2
    ['d1', 9, 20], //    W = 18; t = 20 belongs to [20,30) (half-open)
    ['d2', 40, 21], //   W = 19
    ['d1', 1, 25], //    W = 23  hand: [10,20) fires: d2 {20,30}, d1 {4,8}. hop: [10,20) fires {20,4,8,30}
    ['d1', 12, 19.999], // hand: [10,20) fired, W 23 < 20 + 5: accepted.
    //                   hop: missed [10,20) (late, missedWindows 1), counted in [15,25)
    // End of data, W = +∞. hand: correction [10,20) d1 v2 {4,8,12}; [20,30) fires: d1 {9,1}, d2 {40}.
    // hop: [15,25) {30,12,9,40}, [20,30) {9,40,1}, [25,35) {1}.
  ];
  const t = (s: number): number => T0 + Math.round(s * 1000);
  const hand = (dev: string, s: number, version: number, count: number, mean: number, max: number): string =>
    JSON.stringify({ type: 'window', pipeline: 'hand', key: { deviceId: dev }, start: t(s), end: t(s + 10), version, count, values: { count, mean, max } });
  const hop = (s: number, count: number, sum: number): string =>
    JSON.stringify({ type: 'window', pipeline: 'hop', key: {}, start: t(s), end: t(s + 10), version: 1, count, values: { count, sum } });
  const late = (pipeline: string, key: Record<string, string>, value: number, s: number, w: number, missedWindows: number): string =>
    JSON.stringify({ type: 'late', pipeline, key, reading: { deviceId: 'd1', metric: 'm', value, eventTime: t(s), arrivalTime: t(s) }, watermark: t(w), missedWindows });
  const EXPECTED = [
    // hand, the batch
    hand('d1', 0, 1, 4, 3.5, 5),
    hand('d2', 0, 1, 1, 10, 10),
    hand('d1', 0, 2, 5, 4, 6),
    late('hand', { deviceId: 'd1' }, 100, 3, 16, 1),
    hand('d1', 10, 1, 2, 6, 8), // a window's keys come out in key order
    hand('d2', 10, 1, 2, 25, 30),
    // hop, the batch
    hop(-5, 2, 6),
    hop(0, 5, 24),
    late('hop', {}, 6, 9.5, 10, 1),
    hop(5, 7, 56),
    late('hop', {}, 100, 3, 16, 2),
    hop(10, 4, 62),
    late('hop', {}, 12, 19.999, 23, 1),
    // hand, end of data
    hand('d1', 10, 2, 3, 8, 12),
    hand('d1', 20, 1, 2, 5, 9),
    hand('d2', 20, 1, 1, 40, 40),
    // hop, end of data
    hop(15, 4, 91),
    hop(20, 3, 50),
    hop(25, 1, 1),
  ];
  const PIPELINES = `pipelines:
  - name: hand
    watermark: { maxOutOfOrder: 2s }
    keyBy: deviceId
    window: { type: tumbling, size: 10s, allowedLateness: 5s }
    aggregates: [count, mean, max]
  - name: hop
    watermark: { maxOutOfOrder: 2s }
    keyBy: []
    window: { type: hopping, size: 10s, slide: 5s }
    aggregates: [count, sum]
`;
  let run: Run;
  before(async () => {
    const input = file('hand.ndjson', RECORDS.map(([d, v, s]) => JSON.stringify({ deviceId: d, metric: 'm', value: v, ts: t(s) })).join('\n') + '\n');
    run = await weir('replay', '--pipeline', file('hand.yaml', PIPELINES), '--input', input);
  });

  test('exact output lines', () => {
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(lines(run.stdout), EXPECTED);
  });

  test('summary: late readings counted once, partly-late hopping readings apart from dropped ones', () => {
    assert.deepEqual(summaryOf(run.stderr), {
      readings: 15,
      ticks: 0,
      badLines: 0,
      badByCode: {},
      pipelines: {
        hand: { anomalies: 0, windows: 6, corrections: 2, late: 1, lateDropped: 1 },
        hop: { anomalies: 0, windows: 7, corrections: 0, late: 3, lateDropped: 1 },
      },
    });
  });
});

describe('the bundle (rollup) runs alone', () => {
  let bundleDir = '';
  let bundle = '';

  before(async () => {
    // Same config as `npm run build`, written to a temporary file instead of the shared dist/.
    const buildDir = join(dir, 'build');
    const b = await spawnNode(['node_modules/rollup/dist/bin/rollup', '-c', 'rollup.config.mjs', '--file', join(buildDir, 'weir.mjs'), '--silent'], ROOT, { ...process.env, WEIR_BUILD_ONLY: 'weir.mjs' });
    assert.equal(b.code, 0, b.stderr);
    bundleDir = mkdtempSync(join(tmpdir(), 'weir-bundle-alone-'));
    bundle = join(bundleDir, 'weir.mjs');
    copyFileSync(join(buildDir, 'weir.mjs'), bundle);
  });
  after(() => {
    if (bundleDir !== '') rmSync(bundleDir, { recursive: true, force: true });
  });

  const pkgVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  test('--help exits 0; --version prints the package.json version', async () => {
    const [help, version] = await Promise.all([spawnNode([bundle, '--help'], bundleDir), spawnNode([bundle, '--version'], bundleDir)]);
    assert.equal(help.code, 0, help.stderr);
    assert.ok(help.stdout.startsWith(`weir ${pkgVersion} — edge stream processor\n`), help.stdout);
    assert.match(help.stdout, /weir replay --pipeline FILE --input FILE/);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `${pkgVersion}\n`);
  });

  test('its replay output is byte-identical to the tsx run', async () => {
    const [fromBundle, fromSource] = await Promise.all([
      spawnNode([bundle, 'replay', '--pipeline', SAMPLE_PIPELINE, '--input', SAMPLE_INPUT], bundleDir),
      weir('replay', '--pipeline', SAMPLE_PIPELINE, '--input', SAMPLE_INPUT),
    ]);
    assert.equal(fromBundle.code, 0, fromBundle.stderr);
    assert.ok(fromBundle.stdout.length > 0);
    assert.equal(fromBundle.stdout, fromSource.stdout);
    assert.equal(fromBundle.stderr, fromSource.stderr);
  });
});
