import type { Message, SourceRecord } from './types.ts';
import { assertNever } from './types.ts';
import { MessageBuffer, type AnyOperator, type NamedState } from './operator.ts';
import type { PipelineOutput, SideRecord } from './outputs.ts';
import { WeirError } from '../errors.ts';

/** A pipeline's persisted state: one named state per operator, in chain order. */
export interface PipelineSnapshot {
  readonly pipeline: string;
  readonly checkpointId: number;
  readonly operators: readonly { readonly kind: string; readonly state: NamedState }[];
}

/**
 * Runs one linear chain of operators. The runner owns the loop: it hands each
 * message to an operator's hook, forwards what the operator emitted depth-first
 * (so outputs come out in causal order), forwards watermarks, and takes a
 * snapshot of every operator when a barrier passes it. Operators see no clock
 * and no I/O.
 */
export class PipelineRunner {
  private readonly buffers: MessageBuffer<unknown>[];
  private outputs: PipelineOutput[] = [];
  private snap: { kind: string; state: NamedState }[] | null = null;
  private ended = false;

  constructor(
    readonly name: string,
    readonly operators: readonly AnyOperator[],
    /** Items an operator may emit before they are handed downstream (tests use tiny values). */
    chunk = 4096,
  ) {
    const sink = (r: SideRecord): void => {
      this.outputs.push(r);
    };
    this.buffers = operators.map((_, i) => {
      const b = new MessageBuffer<unknown>();
      b.side = sink;
      b.chunk = chunk;
      // A hook that emits a lot (a window of a million keys firing) hands its output downstream
      // in chunks as it goes, in order, instead of holding it all.
      b.onFull = () => {
        for (const m of b.take()) this.deliver(i + 1, m);
      };
      return b;
    });
  }

  /**
   * Sends final outputs to `fn` as they are produced (in chunks) instead of
   * collecting them for push()/end() to return; push()/end() then return [].
   */
  setSink(fn: ((outs: readonly PipelineOutput[]) => void) | null): void {
    this.sinkFn = fn;
  }
  private sinkFn: ((outs: readonly PipelineOutput[]) => void) | null = null;

  /** Processes one batch of source records; returns what the pipeline emitted, in order. */
  push(records: readonly SourceRecord[]): PipelineOutput[] {
    if (this.ended) throw new WeirError('E_USAGE', `pipeline ${this.name} already ended`);
    if (records.length > 0) this.deliver(0, { kind: 'data', items: records });
    return this.take();
  }

  /** End of data: every open window fires. */
  end(): PipelineOutput[] {
    if (!this.ended) {
      this.deliver(0, { kind: 'end' });
      this.ended = true;
    }
    return this.take();
  }

  /** Passes a barrier through the chain and returns every operator's snapshot. */
  checkpoint(checkpointId: number): PipelineSnapshot {
    this.snap = [];
    this.deliver(0, { kind: 'barrier', checkpointId });
    const operators = this.snap;
    this.snap = null;
    return { pipeline: this.name, checkpointId, operators };
  }

  restore(s: PipelineSnapshot): void {
    if (s.operators.length !== this.operators.length) {
      throw new WeirError('E_STATE_VERSION', `pipeline ${this.name}: snapshot has ${s.operators.length} operators, plan has ${this.operators.length}`);
    }
    this.operators.forEach((op, i) => {
      const st = s.operators[i]!;
      if (st.kind !== op.kind) {
        throw new WeirError('E_STATE_VERSION', `pipeline ${this.name}: operator ${i} is ${op.kind}, snapshot holds ${st.kind}`);
      }
      op.restore(st.state);
    });
  }

  stateBytes(): number {
    let b = 0;
    for (const op of this.operators) b += op.stateBytes();
    return b;
  }

  private take(): PipelineOutput[] {
    const out = this.outputs;
    this.outputs = [];
    if (this.sinkFn !== null && out.length > 0) {
      this.sinkFn(out);
      return [];
    }
    return out;
  }

  private deliver(i: number, m: Message<unknown>): void {
    if (i === this.operators.length) {
      if (m.kind !== 'data') return;
      if (this.sinkFn !== null) {
        if (this.outputs.length > 0) this.sinkFn(this.take()); // side records first: they came earlier
        this.sinkFn(m.items as readonly PipelineOutput[]);
      } else for (const item of m.items) this.outputs.push(item as PipelineOutput);
      return;
    }
    const op = this.operators[i]!;
    const buf = this.buffers[i]!;
    switch (m.kind) {
      case 'data':
        op.process(m.items, buf);
        break;
      case 'watermark':
        op.onWatermark(m.watermark, buf);
        if (!op.forwardsWatermarks) buf.emitWatermark(m.watermark);
        break;
      case 'barrier':
        this.snap?.push({ kind: op.kind, state: op.snapshot() });
        buf.pushMessage(m);
        break;
      case 'end':
        op.finish(buf);
        buf.pushMessage(m);
        break;
      default:
        assertNever(m, 'message');
    }
    const produced = buf.take();
    for (const p of produced) this.deliver(i + 1, p);
  }
}
