/**
 * Helpers for the CoAP ingest tests (not shipped code paths): a timer moved
 * by hand, a real runtime + store in a temp dir behind a real Ingestor, and
 * waiting on events with a deadline that fails the test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventEmitter } from 'node:events';
import type { DeviceProfile } from '../../../devices/index.ts';
import { ManualClock } from '../../engine/types.ts';
import type { Reading } from '../../engine/types.ts';
import { GatewayRuntime } from '../../runtime/gateway-runtime.ts';
import type { Timer } from '../../state/group-commit-log.ts';
import { LocalStateStore } from '../../state/local-store.ts';
import type { QuarantineRow } from '../../state/store-types.ts';
import { Ingestor } from '../ingestor.ts';

/** Timers that fire only when the test moves time (`advance`), in due order, on a shared ManualClock. */
export class ManualTimer implements Timer {
  private readonly due = new Map<number, { at: number; fn: () => void; ms: number }>();
  private n = 0;

  constructor(readonly clock: ManualClock) {}

  set(fn: () => void, ms: number): unknown {
    this.due.set(++this.n, { at: this.clock.now() + ms, fn, ms });
    return this.n;
  }

  clear(h: unknown): void {
    this.due.delete(h as number);
  }

  /** Delays (as set) of the timers waiting now, soonest first. */
  pending(): number[] {
    return [...this.due.values()].sort((a, b) => a.at - b.at).map((d) => d.ms);
  }

  /** Moves the clock by `ms`, firing every timer that falls due (also ones set while firing). */
  advance(ms: number): void {
    const end = this.clock.now() + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.due) if (e[1].at <= end && (next === null || e[1].at < next[1].at)) next = e;
      if (next === null) break;
      this.due.delete(next[0]);
      if (next[1].at > this.clock.now()) this.clock.set(next[1].at);
      next[1].fn();
    }
    this.clock.set(end);
  }
}

/** Resolves with the args of the first `event` for which `pred` holds; rejects (failing the test) after `ms`. */
export function waitFor<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  pred: (...args: A) => boolean,
  what: string,
  ms = 10_000,
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      if (!pred(...(args as A))) return;
      clearTimeout(t);
      emitter.off(event, onEvent);
      resolve(args as A);
    };
    const t = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    emitter.on(event, onEvent);
  });
}

/** A GatewayRuntime (no pipelines) over a LocalStateStore in a temp dir, and the Ingestor on it. */
export class IngestHarness {
  private constructor(
    readonly dir: string,
    readonly store: LocalStateStore,
    readonly runtime: GatewayRuntime,
    readonly ingestor: Ingestor,
    readonly clock: ManualClock,
  ) {}

  static async open(profiles: readonly DeviceProfile[], clock = new ManualClock(1_767_225_600_000)): Promise<IngestHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'weir-coap-'));
    const store = await LocalStateStore.open({ path: join(dir, 'gw.db') });
    const runtime = await GatewayRuntime.start({ store, plans: [], clock, checkpointIntervalMs: 0, tickIntervalMs: 0, groupCommit: { maxDelayMs: 2 } });
    const ingestor = new Ingestor({ profiles, log: runtime, quarantine: store, clock, quarantineDelayMs: 1 });
    return new IngestHarness(dir, store, runtime, ingestor, clock);
  }

  /** Every reading in the durable log, in offset order, as `deviceId|metric|eventTime|value`. */
  async readings(): Promise<string[]> {
    const out: string[] = [];
    for await (const seg of this.store.readFrom(1)) {
      for (const r of seg.records) if (r.type === 'reading') out.push(fmt(r.reading));
    }
    return out;
  }

  async quarantine(): Promise<QuarantineRow[]> {
    return this.store.readQuarantine(0, 100_000);
  }

  async close(): Promise<void> {
    await this.runtime.close();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function fmt(r: Pick<Reading, 'deviceId' | 'metric' | 'eventTime' | 'value'>): string {
  return `${r.deviceId}|${r.metric}|${r.eventTime}|${r.value}`;
}
