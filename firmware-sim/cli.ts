/**
 * `weir-sim`: run a simulated fleet live (MQTT + CoAP, in wall-clock time ×
 * time scale) or record it (simulated time, as fast as possible) into weir
 * replay NDJSON with a ground-truth labels file beside it.
 *
 *   node --import tsx firmware-sim/cli.ts --devices env-sensor=100,power-meter=5 --broker mqtt://127.0.0.1:1883
 *   node --import tsx firmware-sim/cli.ts --devices env-sensor=10 --duration 1h --record out.ndjson
 *
 * Exit codes: 0 done, 2 usage or configuration error, 1 anything else.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { FleetStats } from './core/fleet-stats.ts';
import { SimError } from './core/sim-error.ts';
import type { CliRun } from './cli-args.ts';
import { USAGE, parseCli } from './cli-args.ts';
import { LiveFleet } from './live/live-fleet.ts';
import { LiveRunner } from './live/live-runner.ts';
import { NdjsonFile } from './record/ndjson-file.ts';
import { runRecord } from './record/record-run.ts';
import { labelLine } from './record/record-transport.ts';

function writeSummary(run: CliRun, summary: Record<string, unknown>): void {
  const text = `${JSON.stringify(summary)}\n`;
  if (run.summaryPath === null) process.stderr.write(`summary ${text}`);
  else writeFileSync(run.summaryPath, text);
}

function baseSummary(run: CliRun, stats: FleetStats): Record<string, unknown> {
  return {
    mode: run.mode,
    seed: run.config.seed,
    devices: run.config.fleet.reduce((n, e) => n + e.count, 0),
    start: run.config.start,
    durationMs: run.config.durationMs,
    ...stats.toJSON(),
  };
}

async function live(run: CliRun): Promise<void> {
  const labels = run.labelsPath === null ? null : new NdjsonFile(run.labelsPath);
  const fleet = await LiveFleet.open(run.config, {
    brokerUrl: run.broker,
    connections: run.connections,
    ...(run.qos === undefined ? {} : { qos: run.qos }),
    coapHost: run.coapHost,
    wallNow: () => performance.now(),
    hooks: { label: (l) => labels?.write(labelLine(l)) },
  });
  const endpoints = fleet.endpoints();
  if (run.coapManifest !== null) writeFileSync(run.coapManifest, `${JSON.stringify(endpoints, null, 2)}\n`);
  if (!run.quiet) for (const e of endpoints) process.stderr.write(`coap ${e.deviceId} ${e.url}\n`);
  const runner = new LiveRunner(fleet, {
    simStart: run.config.start,
    simEnd: run.config.durationMs === null ? null : run.config.start + run.config.durationMs,
    timeScale: run.timeScale,
    wallNow: () => performance.now(),
    onStatus: (s) => {
      if (run.quiet) return;
      const st = fleet.engine.stats;
      process.stderr.write(
        `sim ${new Date(s.simTime).toISOString()} sent=${st.messagesSent} readings=${st.readingsSent} ` +
          `buffered=${st.bufferedMessages} replayed=${st.replayedMessages} lag=${Math.round(s.lagMs)}ms${s.congested ? ' congested' : ''}\n`,
      );
    },
  });
  const stop = (): void => runner.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  runner.start();
  await runner.done;
  await fleet.close();
  labels?.close();
  writeSummary(run, { ...baseSummary(run, fleet.engine.stats), mqtt: fleet.mqttStats(), coap: fleet.coap?.stats() ?? null });
}

function record(run: CliRun): void {
  if (run.recordPath === null || run.labelsPath === null) throw new SimError('E_SIM_USAGE', 'record mode needs --record');
  const stats = runRecord(run.config, new NdjsonFile(run.recordPath), new NdjsonFile(run.labelsPath));
  writeSummary(run, { ...baseSummary(run, stats), readingsFile: run.recordPath, labelsFile: run.labelsPath });
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    // Live mode's default start is "now": read once, here, and never again.
    const run = parseCli(argv, () => Date.now());
    if (run === null) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (run.mode === 'record') record(run);
    else await live(run);
    return 0;
  } catch (e) {
    if (e instanceof SimError) {
      process.stderr.write(`weir-sim: ${e.message}\n`);
      return e.code === 'E_SIM_USAGE' || e.code === 'E_SIM_CONFIG' ? 2 : 1;
    }
    throw e;
  }
}

// Not a top-level await: in the rollup bundle that suspends this module before the
// inlined targets of its dynamic imports are defined, and every command failed.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
