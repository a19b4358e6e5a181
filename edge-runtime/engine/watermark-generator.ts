import type { Reading, SourceRecord, Watermark } from './types.ts';
import type { NamedState, Operator, OperatorContext } from './operator.ts';
import { IndexedMinHeap, type HeapItem } from './indexed-heap.ts';
import { WeirError } from '../errors.ts';

export interface WatermarkSpec {
  /** How far behind the newest event time an event may arrive and still be on time (ms). */
  readonly maxOutOfOrderMs: number;
  /** An input with no reading for this long in processing time is idle (ms; 0 = never idle). */
  readonly idleTimeoutMs: number;
  /** One watermark input for the whole pipeline, or one per device. */
  readonly per: 'pipeline' | 'device';
}

interface Input extends HeapItem {
  readonly id: string;
  maxT: number;
  lastActive: number;
  idle: boolean;
  prev: Input | null;
  next: Input | null;
}

export interface WatermarkGeneratorState {
  emitted: number;
  processingTime: number;
  /** [id, maxEventTime, lastActive, idle 0|1], active ones in order of last activity. */
  inputs: [string, number, number, number][];
  lastIdled: string | null;
}

/**
 * Turns source records (readings and processing-time ticks) into readings and
 * watermarks. Per input: `max event time − maxOutOfOrder`; the pipeline's
 * watermark is the minimum over non-idle inputs, never moves back, and an input
 * is idle after `idleTimeout` of processing time without a reading. Processing
 * time is the largest arrival time or tick seen — data, never the clock — so a
 * replay gives the same watermarks at the same records.
 *
 * When every input is idle, event time is taken to run on with processing time
 * from the most recently active input: W = its maxT + (now − its lastActive) − maxOutOfOrder.
 * So the windows of a device that went silent still close.
 *
 * Watermarks are emitted lazily but exactly: a pending advance is flushed
 * before any reading it would make late, at the end of every batch, and at
 * every tick. Windows only ever fire on events older than the watermark, so
 * results are the same as with a watermark after every record.
 */
export class WatermarkGenerator implements Operator<SourceRecord, Reading, NamedState<'watermark-generator', WatermarkGeneratorState>> {
  readonly kind = 'watermark';
  readonly forwardsWatermarks = true;

  private readonly ooo: number;
  private readonly idleTimeout: number;
  private readonly perDevice: boolean;
  private readonly inputs = new Map<string, Input>();
  private readonly heap = new IndexedMinHeap<Input>((a, b) => a.maxT < b.maxT);
  /** Active inputs, least recently active first. */
  private head: Input | null = null;
  private tail: Input | null = null;
  private lastIdled: Input | null = null;
  private emitted = Number.NEGATIVE_INFINITY;
  private pending = Number.NEGATIVE_INFINITY;
  private procTime = Number.NEGATIVE_INFINITY;

  constructor(spec: WatermarkSpec) {
    this.ooo = spec.maxOutOfOrderMs;
    this.idleTimeout = spec.idleTimeoutMs > 0 ? spec.idleTimeoutMs : Number.POSITIVE_INFINITY;
    this.perDevice = spec.per === 'device';
  }

  get current(): Watermark {
    return { time: this.emitted, processingTime: this.procTime };
  }

  process(records: readonly SourceRecord[], ctx: OperatorContext<Reading>): void {
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      if (rec.type === 'tick') {
        this.advanceProcessingTime(rec.processingTime);
        this.pending = Math.max(this.pending, this.compute());
        this.flush(ctx, true);
        continue;
      }
      const r = rec.reading;
      if (r.arrivalTime > this.procTime) {
        // Inputs may have gone idle, and an all-idle watermark runs with processing time.
        this.advanceProcessingTime(r.arrivalTime);
        const w = this.compute();
        if (w > this.pending) this.pending = w;
      }
      if (r.eventTime < this.pending && this.pending > this.emitted) this.flush(ctx, false);
      ctx.emit(r);
      this.observe(r);
    }
    this.flush(ctx, false);
  }

  onWatermark(): void {
    // The generator is the first step of a pipeline: nothing upstream sends watermarks.
  }

  finish(ctx: OperatorContext<Reading>): void {
    this.pending = Number.POSITIVE_INFINITY;
    this.flush(ctx, false);
  }

  private observe(r: Reading): void {
    const id = this.perDevice ? r.deviceId : '';
    let inp = this.inputs.get(id);
    if (inp === undefined) {
      inp = { id, maxT: r.eventTime, lastActive: this.procTime, idle: false, prev: null, next: null, heapIndex: -1 };
      this.inputs.set(id, inp);
      this.heap.push(inp);
      this.append(inp);
    } else {
      if (inp.idle) {
        inp.idle = false;
        this.heap.push(inp);
        this.append(inp);
      } else if (inp !== this.tail) {
        this.unlink(inp);
        this.append(inp);
      }
      inp.lastActive = this.procTime;
      if (r.eventTime > inp.maxT) {
        inp.maxT = r.eventTime;
        this.heap.update(inp);
      }
    }
    const w = this.compute();
    if (w > this.pending) this.pending = w;
  }

  private compute(): number {
    const top = this.heap.peek();
    if (top !== undefined) return top.maxT - this.ooo;
    const last = this.lastIdled;
    if (last === null) return Number.NEGATIVE_INFINITY;
    return last.maxT + (this.procTime - last.lastActive) - this.ooo;
  }

  private advanceProcessingTime(t: number): void {
    if (!(t > this.procTime)) return;
    this.procTime = t;
    let h = this.head;
    while (h !== null && h.lastActive + this.idleTimeout <= t) {
      const next = h.next;
      this.unlink(h);
      this.heap.remove(h);
      h.idle = true;
      this.lastIdled = h;
      h = next;
    }
  }

  private flush(ctx: OperatorContext<Reading>, always: boolean): void {
    if (this.pending > this.emitted) this.emitted = this.pending;
    else if (!always) return;
    ctx.emitWatermark({ time: this.emitted, processingTime: this.procTime });
  }

  private append(inp: Input): void {
    inp.prev = this.tail;
    inp.next = null;
    if (this.tail !== null) this.tail.next = inp;
    else this.head = inp;
    this.tail = inp;
  }

  private unlink(inp: Input): void {
    if (inp.prev !== null) inp.prev.next = inp.next;
    else this.head = inp.next;
    if (inp.next !== null) inp.next.prev = inp.prev;
    else this.tail = inp.prev;
    inp.prev = inp.next = null;
  }

  snapshot(): NamedState<'watermark-generator', WatermarkGeneratorState> {
    const inputs: [string, number, number, number][] = [];
    for (const inp of this.inputs.values()) if (inp.idle) inputs.push([inp.id, inp.maxT, inp.lastActive, 1]);
    for (let h = this.head; h !== null; h = h.next) inputs.push([h.id, h.maxT, h.lastActive, 0]);
    return {
      name: 'watermark-generator',
      version: 1,
      data: { emitted: this.emitted, processingTime: this.procTime, inputs, lastIdled: this.lastIdled?.id ?? null },
    };
  }

  restore(state: NamedState<'watermark-generator', WatermarkGeneratorState>): void {
    if (state.name !== 'watermark-generator' || state.version !== 1) {
      throw new WeirError('E_STATE_VERSION', `watermark generator cannot restore ${state.name} v${state.version}`);
    }
    const d = state.data;
    this.inputs.clear();
    this.heap.clear();
    this.head = this.tail = this.lastIdled = null;
    for (const [id, maxT, lastActive, idle] of d.inputs) {
      const inp: Input = { id, maxT, lastActive, idle: idle === 1, prev: null, next: null, heapIndex: -1 };
      this.inputs.set(id, inp);
      if (!inp.idle) {
        this.heap.push(inp);
        this.append(inp);
      }
    }
    this.lastIdled = d.lastIdled === null ? null : this.inputs.get(d.lastIdled) ?? null;
    this.emitted = this.pending = d.emitted;
    this.procTime = d.processingTime;
  }

  stateBytes(): number {
    return this.inputs.size * 96;
  }
}
