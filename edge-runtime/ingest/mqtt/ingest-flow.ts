/**
 * Flow control between MQTT connections and the shared Ingestor, the same for
 * the embedded broker and external-broker mode:
 *
 * - frames go to the Ingestor in batches: those submitted in one turn of
 *   the event loop (a socket read: aedes parses a whole chunk synchronously)
 *   go together at its end (a microtask), up to BATCH_FRAMES at a time — one
 *   log append and one promise per batch, not per reading;
 * - a frame's durable callback (PUBACK, PUBREC) runs only once the reading —
 *   or its quarantine record — is durable, in the order the frames arrived
 *   on that connection;
 * - while the log is not writable, frames wait here, in arrival order, and
 *   are handed on when it drained: one waiter on `drained()` instead of one
 *   per frame (thousands of submits waking at once to find the log full again
 *   cost more than the work itself);
 * - a connection is paused (its socket is no longer read) while the log is
 *   not writable, while it has `maxInFlightPerConnection` frames not yet
 *   durable, or while all connections together have `maxInFlight` frames or
 *   `maxInFlightBytes` of payload; it is resumed once the log drained and
 *   the counts fell to half. Paused, a
 *   connection's "accepted" callbacks are held too (for mqtt.js, holding
 *   that callback is what stops the socket being read).
 *
 * So memory held for frames is bounded by maxInFlightBytes plus what the
 * connections had already read when they were paused (one socket read each).
 */
import type { IngestOutcome, Ingestor, RawFrame } from '../ingestor.ts';
import { InOrderAcks, type PendingAck } from './in-order-acks.ts';

/** What the flow needs of the Ingestor (tests pass a fake). */
export type IngestSink = Pick<Ingestor, 'submitBatch' | 'writable' | 'drained' | 'now'>;

/**
 * Frames per batch at most: bounds one log append (the log accepts a whole batch once it is writable,
 * so this is also how far past its bound it can go) while keeping one append per socket read.
 */
const BATCH_FRAMES = 1024;

/** How the flow stops and restarts reading one connection. */
export interface FlowConnection {
  pause(): void;
  resume(): void;
}

export interface FlowLimits {
  /** Frames of one connection submitted and not yet durable before it is paused (default 1,000). */
  readonly maxInFlightPerConnection?: number;
  /** Frames of all connections together (default 10,000). */
  readonly maxInFlight?: number;
  /** Payload bytes of those frames (default 8 MiB). */
  readonly maxInFlightBytes?: number;
}

export interface FlowCounters {
  frames: number;
  accepted: number;
  quarantined: number;
  /** Frames whose durability failed (log or quarantine write error): not acknowledged. */
  failed: number;
  readings: number;
  /** QoS 1/2 acks waiting for durability right now. */
  acksPending: number;
  acksSent: number;
  /** Acks refused because the frame could not be made durable (the connection is then closed). */
  acksRefused: number;
  /** Frames held here because the log was not writable (part of inFlight). */
  waitingForLog: number;
  /** Frames submitted and not yet settled, now and at most, and their payload bytes. */
  inFlight: number;
  inFlightMax: number;
  inFlightBytes: number;
  inFlightBytesMax: number;
  /** Times a connection was paused, connections paused now, total ms with at least one paused. */
  pauses: number;
  pausedNow: number;
  pausedMs: number;
}

export interface SubmitCallbacks {
  /** Runs once the frame is durable, in arrival order on its connection; `err` if it could not be. */
  readonly onDurable?: (err: Error | null) => void;
  /** Runs at once, or when the connection is resumed if it is paused. */
  readonly onAccepted?: () => void;
}

/** One frame on its way: who sent it and the ack it owes. */
class FrameJob {
  constructor(
    readonly cf: ConnectionFlow,
    readonly frame: RawFrame,
    readonly pending: PendingAck<Error | null> | null,
  ) {}
}

/** Per-connection state. */
export class ConnectionFlow {
  inFlight = 0;
  paused = false;
  closed = false;
  readonly acks = new InOrderAcks<Error | null>();
  held: (() => void)[] = [];
  constructor(readonly conn: FlowConnection) {}
}

export class IngestFlow {
  readonly counters: FlowCounters = {
    frames: 0, accepted: 0, quarantined: 0, failed: 0, readings: 0, waitingForLog: 0,
    acksPending: 0, acksSent: 0, acksRefused: 0, inFlight: 0, inFlightMax: 0, inFlightBytes: 0, inFlightBytesMax: 0,
    pauses: 0, pausedNow: 0, pausedMs: 0,
  };
  private readonly perConn: number;
  private readonly total: number;
  private readonly totalBytes: number;
  private readonly paused = new Set<ConnectionFlow>();
  private pausedSince = 0;
  private globalBlocked = false;
  private drainWait = false;
  private idleWaiters: (() => void)[] = [];
  private waiting: FrameJob[] = [];
  private waitHead = 0;
  /** Frames of this turn, handed to the Ingestor together at its end. */
  private batch: FrameJob[] = [];
  private flushQueued = false;
  private readonly flushBatch = (): void => {
    this.flushQueued = false;
    const jobs = this.batch;
    this.batch = [];
    this.dispatch(jobs);
  };

  constructor(
    private readonly ingestor: IngestSink,
    limits: FlowLimits = {},
    private readonly onOutcome?: (frame: RawFrame, outcome: IngestOutcome) => void,
  ) {
    this.perConn = limits.maxInFlightPerConnection ?? 1000;
    this.total = limits.maxInFlight ?? 10_000;
    this.totalBytes = limits.maxInFlightBytes ?? 8 * 1024 * 1024;
  }

  open(conn: FlowConnection): ConnectionFlow {
    return new ConnectionFlow(conn);
  }

  /** The connection is gone: its pending acks are dropped (its frames still settle and are counted). */
  close(cf: ConnectionFlow): void {
    if (cf.closed) return;
    cf.closed = true;
    this.counters.acksPending -= cf.acks.pending;
    cf.acks.clear();
    cf.held = [];
    this.unpause(cf);
  }

  /** Processing time for a frame that just arrived. */
  now(): number {
    return this.ingestor.now();
  }

  submit(cf: ConnectionFlow, frame: RawFrame, cb: SubmitCallbacks): void {
    const c = this.counters;
    c.frames++;
    cf.inFlight++;
    if (++c.inFlight > c.inFlightMax) c.inFlightMax = c.inFlight;
    c.inFlightBytes += frame.payload.byteLength;
    if (c.inFlightBytes > c.inFlightBytesMax) c.inFlightBytesMax = c.inFlightBytes;
    let pending: PendingAck<Error | null> | null = null;
    if (cb.onDurable !== undefined) {
      pending = cf.acks.add(cb.onDurable);
      c.acksPending++;
    }
    const job = new FrameJob(cf, frame, pending);
    if (this.waitHead < this.waiting.length || !this.ingestor.writable) {
      this.waiting.push(job);
      c.waitingForLog++;
      this.awaitDrain();
    } else {
      this.batch.push(job);
      if (this.batch.length >= BATCH_FRAMES) this.flushBatch();
      else if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushBatch);
      }
    }
    if (!this.ingestor.writable || cf.inFlight >= this.perConn || c.inFlight >= this.total || c.inFlightBytes >= this.totalBytes) this.pause(cf);
    if (cb.onAccepted !== undefined) {
      if (cf.paused) cf.held.push(cb.onAccepted);
      else cb.onAccepted();
    }
  }

  /** Resolves when every submitted frame has settled. */
  idle(): Promise<void> {
    if (this.counters.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Total ms paused so far, including the current pause. */
  pausedMsNow(): number {
    return this.counters.pausedMs + (this.paused.size > 0 ? performance.now() - this.pausedSince : 0);
  }

  /** Hands frames to the Ingestor as one batch. */
  private dispatch(jobs: FrameJob[]): void {
    if (jobs.length === 0) return;
    this.ingestor.submitBatch(jobs.map((j) => j.frame), (i, outcome, e) => {
      this.settle(jobs[i]!, outcome, outcome !== null ? null : e instanceof Error ? e : new Error(String(e)));
    });
  }

  /** Hands waiting frames to the Ingestor, in order and in batches, while the log takes them. */
  private pump(): void {
    while (this.waitHead < this.waiting.length && this.ingestor.writable) {
      const end = Math.min(this.waiting.length, this.waitHead + BATCH_FRAMES);
      const jobs = this.waiting.slice(this.waitHead, end);
      this.waiting.fill(undefined as unknown as FrameJob, this.waitHead, end);
      this.counters.waitingForLog -= jobs.length;
      this.waitHead = end;
      this.dispatch(jobs);
    }
    if (this.waitHead === this.waiting.length) {
      this.waiting = [];
      this.waitHead = 0;
    } else {
      if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.waitHead);
        this.waitHead = 0;
      }
      this.awaitDrain();
    }
  }

  /** One waiter on the log's drained(), whatever number of frames and connections wait for it. */
  private awaitDrain(): void {
    if (this.drainWait) return;
    this.drainWait = true;
    this.ingestor.drained().then(() => {
      this.drainWait = false;
      this.pump();
      if (this.globalBlocked && this.globalOk()) {
        this.globalBlocked = false;
        this.sweep();
      }
    }, () => {
      this.drainWait = false;
    });
  }

  private settle(job: FrameJob, outcome: IngestOutcome | null, err: Error | null): void {
    const { cf, frame, pending } = job;
    const c = this.counters;
    cf.inFlight--;
    c.inFlight--;
    c.inFlightBytes -= frame.payload.byteLength;
    if (outcome === null) c.failed++;
    else if (outcome.kind === 'accepted') {
      c.accepted++;
      c.readings += outcome.readings;
    } else c.quarantined++;
    if (outcome !== null && this.onOutcome !== undefined) this.onOutcome(frame, outcome);
    if (pending !== null && !cf.closed) {
      c.acksPending--;
      if (err === null) c.acksSent++;
      else c.acksRefused++;
      cf.acks.complete(pending, err);
    }
    if (cf.paused && this.canResume(cf)) this.unpause(cf);
    if (this.globalBlocked && this.globalOk()) {
      this.globalBlocked = false;
      this.sweep();
    }
    if (c.inFlight === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private globalOk(): boolean {
    const c = this.counters;
    return this.ingestor.writable && c.inFlight <= this.total / 2 && c.inFlightBytes <= this.totalBytes / 2;
  }

  private canResume(cf: ConnectionFlow): boolean {
    return cf.inFlight <= this.perConn / 2 && this.globalOk();
  }

  private pause(cf: ConnectionFlow): void {
    if (!this.globalOk()) {
      this.globalBlocked = true;
      if (!this.ingestor.writable) this.awaitDrain();
    }
    if (cf.paused || cf.closed) return;
    cf.paused = true;
    if (this.paused.size === 0) this.pausedSince = performance.now();
    this.paused.add(cf);
    this.counters.pauses++;
    this.counters.pausedNow = this.paused.size;
    cf.conn.pause();
  }

  private unpause(cf: ConnectionFlow): void {
    if (!cf.paused) return;
    cf.paused = false;
    this.paused.delete(cf);
    this.counters.pausedNow = this.paused.size;
    if (this.paused.size === 0) this.counters.pausedMs += performance.now() - this.pausedSince;
    if (cf.closed) return;
    const held = cf.held;
    cf.held = [];
    cf.conn.resume();
    for (const f of held) f();
  }

  private sweep(): void {
    for (const cf of [...this.paused]) if (cf.inFlight <= this.perConn / 2) this.unpause(cf);
  }
}
