import type { PipelinePlan, StepPlan, WindowPlan } from './plan.ts';
import { compileExpr } from './expr.ts';
import { keying } from '../engine/key.ts';
import { WatermarkGenerator } from '../engine/watermark-generator.ts';
import { FilterOperator, MapOperator } from '../engine/steps.ts';
import { TimeWindowOperator, type WindowCounters } from '../engine/windows/time-window-operator.ts';
import { SessionWindowOperator } from '../engine/windows/session-window-operator.ts';
import { CountWindowOperator } from '../engine/windows/count-window-operator.ts';
import { PipelineRunner } from '../engine/pipeline-runner.ts';
import type { AnyOperator } from '../engine/operator.ts';
import { AggregateLayout } from '../engine/aggregates/layout.ts';
import { DetectOperator } from '../anomaly/detect-operator.ts';
import type { SeriesContext } from '../anomaly/detector.ts';

export interface CompiledPipeline {
  readonly plan: PipelinePlan;
  readonly runner: PipelineRunner;
  readonly watermark: WatermarkGenerator;
  /** The window operator, or null for a detection pipeline. */
  readonly window: (AnyOperator & { readonly counters: WindowCounters }) | null;
  readonly detect: DetectOperator | null;
}

export interface CompileOptions {
  /** What the device profiles say about a series (valid range, expected interval), for detectors. */
  readonly seriesContext?: (deviceId: string, metric: string) => SeriesContext;
}

function stepOperator(s: StepPlan): AnyOperator {
  switch (s.kind) {
    case 'filter':
      return new FilterOperator(compileExpr(s.where));
    case 'map':
      return new MapOperator(s.set.map((a) => ({ field: a.field, eval: compileExpr(a.expr) })));
  }
}

function windowOperator(plan: PipelinePlan, w: WindowPlan): AnyOperator & { readonly counters: WindowCounters } {
  const keys = keying(plan.keyBy);
  const layout = new AggregateLayout(plan.aggregates);
  switch (w.type) {
    case 'tumbling':
      return new TimeWindowOperator(plan.name, { kind: 'tumbling', sizeMs: w.sizeMs, slideMs: w.sizeMs, offsetMs: w.offsetMs, allowedLatenessMs: w.allowedLatenessMs }, keys, plan.aggregates, layout);
    case 'hopping':
      return new TimeWindowOperator(plan.name, { kind: 'hopping', sizeMs: w.sizeMs, slideMs: w.slideMs, offsetMs: w.offsetMs, allowedLatenessMs: w.allowedLatenessMs }, keys, plan.aggregates, layout);
    case 'session':
      return new SessionWindowOperator(plan.name, { gapMs: w.gapMs, maxDurationMs: w.maxDurationMs, allowedLatenessMs: w.allowedLatenessMs }, keys, plan.aggregates, layout);
    case 'count':
      return new CountWindowOperator(plan.name, { size: w.size }, keys, plan.aggregates, layout);
  }
}

/** Builds the operator chain of a plan: watermarks → filter/map steps → keyed window with aggregates, or detectors. */
export function compilePipeline(plan: PipelinePlan, opts: CompileOptions = {}): CompiledPipeline {
  const watermark = new WatermarkGenerator(plan.watermark);
  const window = plan.window === null ? null : windowOperator(plan, plan.window);
  const detect = plan.detect.length === 0 ? null : new DetectOperator(plan.name, keying(plan.keyBy), plan.detect, opts.seriesContext);
  const last: AnyOperator[] = [];
  if (window !== null) last.push(window);
  if (detect !== null) last.push(detect);
  const ops: AnyOperator[] = [watermark, ...plan.steps.map(stepOperator), ...last];
  return { plan, runner: new PipelineRunner(plan.name, ops), watermark, window, detect };
}
