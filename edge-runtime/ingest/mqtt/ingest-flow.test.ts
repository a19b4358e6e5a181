import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameSettled, IngestOutcome, RawFrame } from '../ingestor.ts';
import { IngestFlow, type FlowConnection, type IngestSink } from './ingest-flow.ts';

/** A sink whose submits settle when the test says, with a writable flag and drained() under test control. */
class FakeSink implements IngestSink {
  writable = true;
  readonly pending: { frame: RawFrame; resolve: (o: IngestOutcome) => void; reject: (e: unknown) => void }[] = [];
  /** The topics of each batch submitted. */
  readonly batches: string[][] = [];
  private drainWaiters: (() => void)[] = [];
  now(): number {
    return 1000;
  }
  submitBatch(frames: readonly RawFrame[], settled: FrameSettled): void {
    this.batches.push(frames.map((f) => f.topicOrUri));
    frames.forEach((frame, i) => this.pending.push({ frame, resolve: (o) => settled(i, o, null), reject: (e) => settled(i, null, e) }));
  }
  drained(): Promise<void> {
    return this.writable ? Promise.resolve() : new Promise((r) => this.drainWaiters.push(r));
  }
  /** Settles the frame whose topic is `t` (accepted unless `bad`, rejected if `fail`). */
  settle(t: string, how: 'ok' | 'bad' | 'fail' = 'ok'): void {
    const i = this.pending.findIndex((p) => p.frame.topicOrUri === t);
    const [p] = this.pending.splice(i, 1);
    if (how === 'fail') p!.reject(new Error('disk full'));
    else p!.resolve(how === 'ok' ? { kind: 'accepted', readings: 1, lastOffset: 1 } : { kind: 'quarantined', reason: 'E_DECODE_JSON', detail: 'x' });
  }
  drain(): void {
    this.writable = true;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }
}

class FakeConn implements FlowConnection {
  log: string[] = [];
  pause(): void {
    this.log.push('pause');
  }
  resume(): void {
    this.log.push('resume');
  }
}

const frame = (t: string): RawFrame => ({ transport: 'mqtt', topicOrUri: t, deviceId: null, payload: new Uint8Array([1]), arrivalTime: 0 });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('IngestFlow', () => {
  test('durable callbacks run in arrival order, each only once its frame settled', async () => {
    const sink = new FakeSink();
    const flow = new IngestFlow(sink);
    const cf = flow.open(new FakeConn());
    const acked: string[] = [];
    for (const t of ['a', 'b', 'c']) flow.submit(cf, frame(t), { onDurable: (e) => acked.push(`${t}:${e === null ? 'ok' : e.message}`) });
    assert.equal(flow.counters.acksPending, 3);
    await turn();
    assert.deepEqual(sink.batches, [['a', 'b', 'c']], 'the frames of one turn go to the Ingestor as one batch');
    sink.settle('c');
    sink.settle('b', 'bad');
    await turn();
    assert.deepEqual(acked, [], 'c and b wait for a');
    sink.settle('a');
    await turn();
    assert.deepEqual(acked, ['a:ok', 'b:ok', 'c:ok'], 'a quarantined frame is acked too: its record is durable');
    assert.deepEqual({ ...flow.counters, pausedMs: 0 }, {
      frames: 3, accepted: 2, quarantined: 1, failed: 0, readings: 2, waitingForLog: 0, acksPending: 0, acksSent: 3, acksRefused: 0,
      inFlight: 0, inFlightMax: 3, inFlightBytes: 0, inFlightBytesMax: 3, pauses: 0, pausedNow: 0, pausedMs: 0,
    });
  });

  test('a frame that could not be made durable gets its callback with the error, and is not counted as sent', async () => {
    const sink = new FakeSink();
    const flow = new IngestFlow(sink);
    const cf = flow.open(new FakeConn());
    const acked: string[] = [];
    flow.submit(cf, frame('a'), { onDurable: (e) => acked.push(e === null ? 'ok' : e.message) });
    await turn();
    sink.settle('a', 'fail');
    await turn();
    assert.deepEqual(acked, ['disk full']);
    assert.equal(flow.counters.acksRefused, 1);
    assert.equal(flow.counters.failed, 1);
  });

  test('while the log is not writable the connection is paused and its accepted callbacks held; drained() resumes it', async () => {
    const sink = new FakeSink();
    const flow = new IngestFlow(sink);
    const conn = new FakeConn();
    const cf = flow.open(conn);
    const accepted: string[] = [];
    flow.submit(cf, frame('a'), { onAccepted: () => accepted.push('a') });
    assert.deepEqual(accepted, ['a']);
    sink.writable = false;
    flow.submit(cf, frame('b'), { onAccepted: () => accepted.push('b') });
    flow.submit(cf, frame('c'), { onAccepted: () => accepted.push('c') });
    assert.deepEqual(accepted, ['a']);
    assert.deepEqual(conn.log, ['pause']);
    assert.equal(flow.counters.pausedNow, 1);
    sink.drain();
    await turn();
    assert.deepEqual(conn.log, ['pause', 'resume']);
    assert.deepEqual(accepted, ['a', 'b', 'c']);
    assert.equal(flow.counters.pauses, 1);
    assert.equal(flow.counters.pausedNow, 0);
  });

  test('while the log is not writable, frames wait in the flow (not in the Ingestor) and go on in arrival order once it drained', async () => {
    const sink = new FakeSink();
    const flow = new IngestFlow(sink);
    const a = flow.open(new FakeConn());
    const b = flow.open(new FakeConn());
    sink.writable = false;
    flow.submit(a, frame('a1'), {});
    flow.submit(b, frame('b1'), {});
    flow.submit(a, frame('a2'), {});
    await turn();
    assert.deepEqual(sink.pending.map((p) => p.frame.topicOrUri), [], 'nothing reaches the Ingestor while the log is full');
    assert.equal(flow.counters.waitingForLog, 3);
    sink.drain();
    await turn();
    assert.deepEqual(sink.batches, [['a1', 'b1', 'a2']]);
    assert.equal(flow.counters.waitingForLog, 0);
    flow.submit(a, frame('a3'), {});
    await turn();
    assert.deepEqual(sink.batches, [['a1', 'b1', 'a2'], ['a3']]);
  });

  test('a connection with maxInFlightPerConnection unsettled frames is paused until half of them settled', async () => {
    const sink = new FakeSink();
    const flow = new IngestFlow(sink, { maxInFlightPerConnection: 4 });
    const conn = new FakeConn();
    const other = new FakeConn();
    const cf = flow.open(conn);
    const cf2 = flow.open(other);
    for (const t of ['a', 'b', 'c', 'd']) flow.submit(cf, frame(t), {});
    flow.submit(cf2, frame('x'), {});
    assert.deepEqual(conn.log, ['pause']);
    assert.deepEqual(other.log, [], 'only the busy connection is paused');
    await turn();
    sink.settle('a');
    await turn();
    assert.deepEqual(conn.log, ['pause'], '3 in flight: still above half');
    sink.settle('b');
    await turn();
    assert.deepEqual(conn.log, ['pause', 'resume']);
  });

  test('all connections together: maxInFlight pauses whoever submits, and everyone resumes at half', async () => {
    const sink = new FakeSink();
    const flow = new IngestFlow(sink, { maxInFlight: 4, maxInFlightPerConnection: 100 });
    const conns = [new FakeConn(), new FakeConn(), new FakeConn(), new FakeConn()];
    const cfs = conns.map((c) => flow.open(c));
    cfs.forEach((cf, i) => flow.submit(cf, frame(`f${i}`), {}));
    assert.deepEqual(conns.map((c) => c.log.join()), ['', '', '', 'pause']);
    flow.submit(cfs[0]!, frame('g'), {});
    assert.deepEqual(conns.map((c) => c.log.join()), ['pause', '', '', 'pause']);
    await turn();
    sink.settle('f1');
    sink.settle('f2');
    await turn();
    assert.deepEqual(conns.map((c) => c.log.join()), ['pause', '', '', 'pause'], '3 in flight of 4: above half');
    sink.settle('f3');
    await turn();
    assert.deepEqual(conns.map((c) => c.log.join()), ['pause,resume', '', '', 'pause,resume']);
  });

  test('a closed connection gets no callbacks; its frames still settle; idle() waits for them', async () => {
    const sink = new FakeSink();
    const flow = new IngestFlow(sink);
    const cf = flow.open(new FakeConn());
    const acked: string[] = [];
    flow.submit(cf, frame('a'), { onDurable: () => acked.push('a') });
    flow.close(cf);
    assert.equal(flow.counters.acksPending, 0);
    let idle = false;
    void flow.idle().then(() => (idle = true));
    await turn();
    assert.equal(idle, false);
    sink.settle('a');
    await turn();
    assert.equal(idle, true);
    assert.deepEqual(acked, []);
    assert.equal(flow.counters.accepted, 1);
  });
});
