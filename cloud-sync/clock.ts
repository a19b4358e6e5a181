/**
 * Time as the service sees it, injected so tests move it by hand (STYLE
 * habit 6). cloud-sync never imports edge-runtime/, so these mirror the
 * edge's Clock and Timer shapes.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface Timer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const systemTimer: Timer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A timer and clock tests move by hand: advance(ms) runs what falls due, in order. */
export class ManualTimer implements Timer, Clock {
  private t: number;
  private tasks: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  set(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.tasks.push({ at: this.t + Math.max(0, ms), fn, id });
    return id;
  }
  clear(handle: unknown): void {
    this.tasks = this.tasks.filter((x) => x.id !== handle);
  }
  get armed(): number {
    return this.tasks.length;
  }
  /** When the next task falls due, or null. */
  get nextDue(): number | null {
    return this.tasks.reduce<number | null>((m, x) => (m === null || x.at < m ? x.at : m), null);
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = this.tasks.filter((x) => x.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.tasks = this.tasks.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = until;
  }
}
