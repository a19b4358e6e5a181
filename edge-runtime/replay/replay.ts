import type { PipelinePlan } from '../pipeline/plan.ts';
import { compilePipeline, type CompiledPipeline } from '../pipeline/compile.ts';
import type { PipelineOutput } from '../engine/outputs.ts';
import type { InputError } from '../errors.ts';
import { readRecords, type InputFormat } from './input.ts';

export interface PipelineSummary {
  anomalies: number;
  windows: number;
  corrections: number;
  late: number;
  lateDropped: number;
}

export interface ReplaySummary {
  readings: number;
  ticks: number;
  badLines: number;
  badByCode: Record<string, number>;
  pipelines: Record<string, PipelineSummary>;
}

export interface ReplayOptions {
  readonly plans: readonly PipelinePlan[];
  readonly input: string;
  readonly format?: InputFormat;
  readonly strict?: boolean;
  readonly batchSize?: number;
  /** Receives every output, pipeline by pipeline within each batch, in order. */
  readonly emit: (out: PipelineOutput) => void;
  readonly onBad?: (e: InputError) => void;
}

/**
 * Runs pipelines over a recorded file, deterministically: the same input and
 * plans always give the same outputs in the same order.
 */
export async function replay(opts: ReplayOptions): Promise<ReplaySummary> {
  const compiled: CompiledPipeline[] = opts.plans.map((p) => compilePipeline(p));
  const summary: ReplaySummary = { readings: 0, ticks: 0, badLines: 0, badByCode: {}, pipelines: {} };
  for (const c of compiled) summary.pipelines[c.plan.name] = { anomalies: 0, windows: 0, corrections: 0, late: 0, lateDropped: 0 };
  const count = (name: string, outs: PipelineOutput[]): void => {
    const s = summary.pipelines[name]!;
    for (const o of outs) {
      if (o.type === 'late') s.late++;
      else if (o.type === 'anomaly') s.anomalies++;
      else if (o.version > 1 || o.retracts !== undefined) s.corrections++;
      else s.windows++;
      opts.emit(o);
    }
  };
  const records = readRecords(opts.input, {
    ...(opts.format !== undefined ? { format: opts.format } : {}),
    strict: opts.strict ?? false,
    batchSize: opts.batchSize ?? 1024,
    onBad: (e) => {
      summary.badLines++;
      summary.badByCode[e.code] = (summary.badByCode[e.code] ?? 0) + 1;
      opts.onBad?.(e);
    },
  });
  for await (const batch of records) {
    for (const r of batch) {
      if (r.type === 'reading') summary.readings++;
      else summary.ticks++;
    }
    for (const c of compiled) count(c.plan.name, c.runner.push(batch));
  }
  for (const c of compiled) {
    count(c.plan.name, c.runner.end());
    summary.pipelines[c.plan.name]!.lateDropped = c.window?.counters.lateDropped ?? 0;
  }
  return summary;
}
