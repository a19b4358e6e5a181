import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCli, parseDuration } from './cli-args.ts';
import { SimError } from './core/sim-error.ts';

const NOW = 1_800_000_000_000;
const parse = (s: string) => parseCli(s.split(' ').filter((x) => x !== ''), () => NOW);

describe('weir-sim command line', () => {
  test('durations need a unit', () => {
    const cases: [string, number][] = [['500ms', 500], ['90s', 90_000], ['10m', 600_000], ['1.5h', 5_400_000], ['1d', 86_400_000]];
    for (const [v, ms] of cases) assert.equal(parseDuration('duration', v), ms, v);
    assert.throws(() => parseDuration('duration', '60'), (e: unknown) => e instanceof SimError && e.code === 'E_SIM_USAGE' && /--duration/.test(e.message));
  });

  test('record mode: fleet, intervals, labels beside the output, fixed default start', () => {
    const run = parse('--devices env-sensor=3,power-meter=1 --devices env-sensor=2 --interval env-sensor=1s --duration 1h --record out/run.ndjson --seed 42');
    assert.ok(run);
    assert.equal(run.mode, 'record');
    assert.deepEqual(run.config.fleet.map((e) => [e.profile.name, e.count, e.intervalMs]), [['env-sensor', 5, 1000], ['power-meter', 1, undefined]]);
    assert.equal(run.labelsPath, 'out/run.labels.ndjson');
    assert.equal(run.config.start, 1_767_225_600_000);
    assert.equal(run.config.seed, 42);
    assert.equal(run.config.durationMs, 3_600_000);
  });

  test('live mode defaults: now as start, no end, per-device clients, local broker', () => {
    const run = parse('--devices vibration=10');
    assert.ok(run);
    assert.deepEqual(
      [run.mode, run.config.start, run.config.durationMs, run.connections, run.broker, run.qos, run.timeScale],
      ['live', NOW, null, 'per-device', 'mqtt://127.0.0.1:1883', undefined, 1],
    );
  });

  test('faults, link behaviour and storms are configurable', () => {
    const run = parse('--devices env-sensor=1 --fault-rate 10 --fault-kinds spike,dropout --bad-rate 0.05 --outages-per-day 6 --storm-every 30m --storm-duration 2m --storm-fraction 0.5 --buffer-limit 100 --qos 1 --connections 8 --time-scale 60');
    assert.ok(run);
    assert.equal(run.config.faults.perDay, 10);
    assert.deepEqual(Object.entries(run.config.faults.weights).filter(([, w]) => w > 0).map(([k]) => k), ['spike', 'dropout']);
    assert.equal(run.config.badRate, 0.05);
    assert.deepEqual(run.config.link.storm, { everyMs: 1_800_000, durationMs: 120_000, fraction: 0.5, firstAtMs: 1_800_000 });
    assert.deepEqual([run.config.link.outagesPerDay, run.config.link.bufferLimit, run.qos, run.connections, run.timeScale], [6, 100, 1, 8, 60]);
  });

  test('mistakes name the option', () => {
    const cases: [string, RegExp][] = [
      ['', /--devices/],
      ['--devices nope=1', /unknown profile "nope"/],
      ['--devices env-sensor', /PROFILE=VALUE/],
      ['--devices env-sensor=1 --record x.ndjson', /--duration: record mode needs a duration/],
      ['--devices env-sensor=1 --qos 2', /--qos/],
      ['--devices env-sensor=1 --bad-rate 2', /--bad-rate/],
      ['--devices env-sensor=1 --fault-kinds spike,meteor', /unknown kind "meteor"/],
      ['--devices env-sensor=1 --start yesterday', /--start/],
      ['--devices env-sensor=1 --frobnicate', /frobnicate/],
    ];
    for (const [args, re] of cases) {
      assert.throws(() => parse(args), (e: unknown) => e instanceof SimError && e.code === 'E_SIM_USAGE' && re.test(e.message), args);
    }
  });

  test('--help returns null', () => {
    assert.equal(parse('--help'), null);
  });
});
