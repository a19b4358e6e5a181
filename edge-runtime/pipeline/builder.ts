import type { PipelinePlan, StepPlan } from './plan.ts';
import type { ExprBuilder } from './expr.ts';
import { aggregate, checkOutputNames, detectors, pipelineName, watermark, windowPlan } from './parse.ts';
import { ConfigError } from '../errors.ts';

type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;
type FieldName = 'deviceId' | 'metric' | 'value' | 'eventTime' | 'arrivalTime' | `tags.${string}`;
type AggregateArg =
  | 'count' | 'sum' | 'min' | 'max' | 'mean' | 'variance' | 'stddev' | 'varianceSample' | 'stddevSample'
  | 'first' | 'last' | 'rate' | 'distinct' | `p${number}`
  | { fn: string; field?: FieldName; q?: number; accuracy?: number; precision?: number; as?: string };

/**
 * A typed builder for programmatic pipelines; it produces the same validated
 * `PipelinePlan` as a pipeline file (the same checks run).
 *
 *   pipeline('env')
 *     .watermark({ maxOutOfOrder: '5s', per: 'device' })
 *     .filter(field('metric').eq('temperature'))
 *     .keyBy('deviceId')
 *     .tumbling('10s')
 *     .aggregate('count', 'mean', 'p95')
 *     .build()
 */
export class PipelineBuilder {
  private wm: unknown = undefined;
  private readonly steps: StepPlan[] = [];
  private keys: string[] = ['deviceId', 'metric'];
  private win: unknown = undefined;
  private aggs: AggregateArg[] = [];
  private detectSpecs: unknown[] = [];

  constructor(private readonly name: string) {}

  watermark(w: { maxOutOfOrder?: Duration; idleTimeout?: Duration; per?: 'pipeline' | 'device' }): this {
    this.wm = w;
    return this;
  }

  filter(pred: ExprBuilder): this {
    this.steps.push({ kind: 'filter', where: pred.expr });
    return this;
  }

  map(set: Partial<Record<FieldName, ExprBuilder>>): this {
    this.steps.push({ kind: 'map', set: Object.entries(set).map(([field, e]) => ({ field, expr: e!.expr })) });
    return this;
  }

  keyBy(...fields: FieldName[]): this {
    this.keys = fields;
    return this;
  }

  tumbling(size: Duration, o: { offset?: Duration; allowedLateness?: Duration } = {}): this {
    this.win = { type: 'tumbling', size, ...o };
    return this;
  }

  hopping(size: Duration, slide: Duration, o: { offset?: Duration; allowedLateness?: Duration } = {}): this {
    this.win = { type: 'hopping', size, slide, ...o };
    return this;
  }

  session(gap: Duration, o: { maxDuration?: Duration; allowedLateness?: Duration } = {}): this {
    this.win = { type: 'session', gap, ...o };
    return this;
  }

  count(size: number): this {
    this.win = { type: 'count', size };
    return this;
  }

  /** Runs detectors per key instead of windows: `.detect('novelty', { kind: 'out-of-range', min: 0, max: 50 })`. */
  detect(...specs: (string | { kind: string; [k: string]: unknown })[]): this {
    this.detectSpecs.push(...specs);
    return this;
  }

  aggregate(...a: AggregateArg[]): this {
    this.aggs.push(...a);
    return this;
  }

  build(): PipelinePlan {
    const base = {
      name: pipelineName(this.name, `${this.name}.name`),
      watermark: watermark(this.wm, `${this.name}.watermark`),
      steps: [...this.steps],
      keyBy: [...this.keys],
    };
    if (this.detectSpecs.length > 0) {
      if (this.win !== undefined || this.aggs.length > 0) {
        throw new ConfigError(`${this.name}.detect`, 'a pipeline either windows (window + aggregates) or detects; build two pipelines');
      }
      return { ...base, window: null, aggregates: [], detect: detectors(this.detectSpecs, `${this.name}.detect`) };
    }
    if (this.win === undefined) throw new ConfigError(`${this.name}.window`, 'is required: call tumbling(), hopping(), session() or count() (or detect())');
    if (this.aggs.length === 0) throw new ConfigError(`${this.name}.aggregates`, 'call aggregate() with at least one aggregate');
    const aggregates = this.aggs.map((a, i) => aggregate(a, `${this.name}.aggregates[${i}]`));
    checkOutputNames(aggregates, `${this.name}.aggregates`);
    return { ...base, window: windowPlan(this.win, `${this.name}.window`), aggregates, detect: [] };
  }
}

export const pipeline = (name: string): PipelineBuilder => new PipelineBuilder(name);
