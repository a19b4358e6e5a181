/**
 * The seeded input of the switchover tests, and what an undisturbed gateway
 * makes of it.
 *
 * `recordFleet` runs the simulator's record mode (weir-sim --record, in
 * process): a seeded fleet in simulated time with its faults, link outages
 * and replays of buffered readings, written in arrival order — the same
 * bytes for the same arguments, every time.
 *
 * `referenceOutputs` pushes those readings, in that order, through the
 * pipelines the way the gateway's runtime does (compile, push, never end:
 * a running gateway never flushes its open windows). The test pipelines
 * depend on event time and arrival order only (no idle timeouts, no
 * processing-time detectors), so this is what any gateway fed the same
 * readings in the same order must have produced, whatever its wall clock.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCli } from '../../firmware-sim/cli-args.ts';
import { runRecord } from '../../firmware-sim/record/record-run.ts';
import type { LineSink } from '../../firmware-sim/record/ndjson-file.ts';
import { parsePipelineFile } from '../../edge-runtime/pipeline/parse.ts';
import { compilePipeline } from '../../edge-runtime/pipeline/compile.ts';
import type { PipelinePlan } from '../../edge-runtime/pipeline/plan.ts';
import type { PipelineOutput } from '../../edge-runtime/engine/outputs.ts';
import type { SourceRecord } from '../../edge-runtime/engine/types.ts';
import type { PublishedReading } from './reading-publisher.ts';

/** The seeded fleet of the switchover tests: 4 climate sensors, 30 simulated minutes, link outages with buffered replays, faults. */
export const SWITCHOVER_FLEET: readonly string[] = [
  '--devices', 'env-sensor=4', '--duration', '30m', '--seed', '7', '--outages-per-day', '100', '--outage-mean', '90s', '--fault-rate', '100',
];

/** The pipelines file the switchover tests run (event time only). */
export const SWITCHOVER_PIPELINES = fileURLToPath(new URL('./switchover-pipelines.yaml', import.meta.url));

export interface RecordedReading extends PublishedReading {
  /** When the simulated gateway received it (simulated time). */
  readonly arrival: number;
}

class MemorySink implements LineSink {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  close(): void {}
}

/** Runs `weir-sim --record` with these arguments (no --record needed) in process; the readings in arrival order. */
export function recordFleet(args: readonly string[]): { readings: RecordedReading[]; stats: Record<string, unknown> } {
  const run = parseCli([...args, '--record', '/dev/null', '--quiet'], () => 0);
  if (run === null) throw new Error('recordFleet: --help given');
  const readings = new MemorySink();
  const stats = runRecord(run.config, readings, new MemorySink());
  return {
    readings: readings.lines.map((l) => {
      const o = JSON.parse(l) as { deviceId: string; metric: string; value: number; ts: number; arrival: number };
      return { deviceId: o.deviceId, metric: o.metric, value: o.value, ts: o.ts, arrival: o.arrival };
    }),
    stats: stats.toJSON(),
  };
}

export function loadPlans(file = SWITCHOVER_PIPELINES): PipelinePlan[] {
  return parsePipelineFile(readFileSync(file, 'utf8'), file);
}

/** Every output the runtime would write to the outbox for these readings, in outbox order (per segment: pipeline by pipeline). */
export function referenceOutputs(readings: readonly RecordedReading[], plans: readonly PipelinePlan[] = loadPlans(), segment = 256): PipelineOutput[] {
  const compiled = plans.map((p) => compilePipeline(p));
  const out: PipelineOutput[] = [];
  for (let i = 0; i < readings.length; i += segment) {
    const batch: SourceRecord[] = readings.slice(i, i + segment).map((r) => ({
      type: 'reading', reading: { deviceId: r.deviceId, metric: r.metric, value: r.value, eventTime: r.ts, arrivalTime: r.arrival },
    }));
    for (const c of compiled) out.push(...c.runner.push(batch));
  }
  // The gateway writes a processing-time tick into its log every second; the push that carries it
  // flushes corrections still pending from the last readings. It moves no watermark (no idle timeout).
  const last = readings[readings.length - 1];
  if (last !== undefined) for (const c of compiled) out.push(...c.runner.push([{ type: 'tick', processingTime: last.arrival + 1 }]));
  return out;
}
