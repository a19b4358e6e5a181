import type { Expr } from './expr.ts';
import type { AggregateSpec } from '../engine/aggregates/spec.ts';
import type { WatermarkSpec } from '../engine/watermark-generator.ts';
import type { ResolvedSpec } from '../anomaly/detector-spec.ts';

/**
 * The logical plan of one pipeline: plain data, fully defaulted and validated.
 * Pipeline files and the TypeScript builder both produce it; a SQL front end
 * can compile `SELECT ... FROM readings WHERE ... GROUP BY key, TUMBLE(...)` to
 * the same shape. `compilePipeline` turns it into operators.
 */
export type WindowPlan =
  | { readonly type: 'tumbling'; readonly sizeMs: number; readonly offsetMs: number; readonly allowedLatenessMs: number }
  | { readonly type: 'hopping'; readonly sizeMs: number; readonly slideMs: number; readonly offsetMs: number; readonly allowedLatenessMs: number }
  | { readonly type: 'session'; readonly gapMs: number; readonly maxDurationMs: number | null; readonly allowedLatenessMs: number }
  | { readonly type: 'count'; readonly size: number };

export type StepPlan =
  | { readonly kind: 'filter'; readonly where: Expr }
  | { readonly kind: 'map'; readonly set: readonly { readonly field: string; readonly expr: Expr }[] };

export interface PipelinePlan {
  readonly name: string;
  readonly watermark: WatermarkSpec;
  /** Filter and map steps, applied in order before keying. */
  readonly steps: readonly StepPlan[];
  readonly keyBy: readonly string[];
  /** A pipeline either windows and aggregates, or runs detectors per series (`detect`). */
  readonly window: WindowPlan | null;
  readonly aggregates: readonly AggregateSpec[];
  /** Detectors run per key on each reading, in arrival order. */
  readonly detect: readonly ResolvedSpec[];
}

export const DEFAULT_WATERMARK: WatermarkSpec = { maxOutOfOrderMs: 0, idleTimeoutMs: 0, per: 'pipeline' };
