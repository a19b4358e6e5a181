/**
 * Drives a live fleet from the wall clock: simulated time = start +
 * (wall − wall at start) × timeScale. Work per turn of the event loop is
 * bounded, and while the transports report back-pressure the runner stops
 * advancing (simulated time lags; it never queues without bound).
 */
/** What the runner drives: a LiveFleet, or a stand-in in tests. */
export interface RunnerTarget {
  readonly engine: { runUntil(t: number, maxEvents?: number): boolean; readonly now: number };
  congested(): boolean;
  readonly coap: { expire(): void } | null;
}

export interface LiveRunnerOptions {
  readonly simStart: number;
  readonly simEnd: number | null;
  readonly timeScale: number;
  /** Wall clock, ms (monotonic). */
  readonly wallNow: () => number;
  readonly tickMs?: number;
  readonly maxEventsPerTurn?: number;
  /** Called about once per second of wall time. */
  readonly onStatus?: (s: RunnerStatus) => void;
}

export interface RunnerStatus {
  readonly simTime: number;
  /** How far simulated time lags behind where the wall clock says it should be, ms (simulated). */
  readonly lagMs: number;
  readonly congested: boolean;
}

export class LiveRunner {
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private wall0 = 0;
  private lastStatus = 0;
  private stopped = false;
  private resolveDone: (() => void) | null = null;
  /** Resolves when the simulated end is reached or `stop()` is called. */
  readonly done: Promise<void>;

  constructor(private readonly fleet: RunnerTarget, private readonly o: LiveRunnerOptions) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  start(): void {
    this.wall0 = this.o.wallNow();
    this.lastStatus = this.wall0;
    this.turn();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = null;
    }
    this.resolveDone?.();
  }

  private target(): number {
    const t = this.o.simStart + (this.o.wallNow() - this.wall0) * this.o.timeScale;
    return this.o.simEnd === null ? t : Math.min(t, this.o.simEnd);
  }

  private turn = (): void => {
    this.timer = null;
    if (this.stopped) return;
    const engine = this.fleet.engine;
    const target = this.target();
    const congested = this.fleet.congested();
    let caughtUp = true;
    if (!congested) caughtUp = engine.runUntil(target, this.o.maxEventsPerTurn ?? 2000);
    this.fleet.coap?.expire();
    const wall = this.o.wallNow();
    if (wall - this.lastStatus >= 1000) {
      this.lastStatus = wall;
      this.o.onStatus?.({ simTime: engine.now, lagMs: Math.max(0, this.target() - engine.now), congested });
    }
    if (this.o.simEnd !== null && engine.now >= this.o.simEnd && caughtUp) {
      this.stop();
      return;
    }
    // Blocked: give the sockets a moment to drain. Behind: yield to I/O and go on. Caught up: next tick.
    if (congested) this.timer = setTimeout(this.turn, 1);
    else if (!caughtUp) this.timer = setImmediate(this.turn);
    else this.timer = setTimeout(this.turn, this.o.tickMs ?? 10);
  };
}
