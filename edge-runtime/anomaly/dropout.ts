import { type Detector, type DetectorState, type Verdict, QUIET } from './detector.ts';
import { encNum, openState } from './state-codec.ts';

export interface DropoutSettings {
  readonly intervalMs: number;
  readonly factor: number;
}

const VERSION = 1;

/**
 * Silence: no reading for more than `factor × intervalMs` of processing time.
 * Processing time comes only as data — a reading's `arrivalTime` (when the
 * gateway ingested it) and the log's ticks via `onProcessingTime` — so a
 * replay decides exactly as the live run did. One alert per silence; the next
 * reading (with a later arrival time) ends it. A series never heard from is never silent.
 */
export class DropoutDetector implements Detector {
  readonly kind = 'dropout' as const;
  private lastArrival = Number.NEGATIVE_INFINITY;
  private alerted = false;

  constructor(private readonly settings: DropoutSettings) {}

  update(eventTime: number, _value: number, arrivalTime = eventTime): Verdict {
    // any reading, even a non-finite value, shows the device is alive; one with an older
    // arrival time than already seen (a replayed straggler) moves nothing
    if (Number.isFinite(arrivalTime) && arrivalTime > this.lastArrival) {
      this.lastArrival = arrivalTime;
      this.alerted = false;
    }
    return QUIET;
  }

  onProcessingTime(processingTime: number): Verdict | null {
    if (this.alerted || !Number.isFinite(this.lastArrival) || !Number.isFinite(processingTime)) return null;
    const silence = processingTime - this.lastArrival;
    const limit = this.settings.factor * this.settings.intervalMs;
    if (!(silence > limit)) return null;
    this.alerted = true;
    return {
      score: 1,
      anomaly: {
        detector: 'dropout',
        reason: `no reading for ${silence} ms (expected one every ${this.settings.intervalMs} ms; limit ${limit} ms)`,
        expected: this.settings.intervalMs,
        observed: silence,
      },
    };
  }

  silenceDeadline(): number {
    if (this.alerted || !Number.isFinite(this.lastArrival)) return Number.POSITIVE_INFINITY;
    return this.lastArrival + this.settings.factor * this.settings.intervalMs;
  }

  stateBytes(): number {
    return 2 * 8;
  }

  snapshot(): DetectorState {
    return { name: 'detector.dropout', version: VERSION, data: { spec: this.settings, lastArrival: encNum(this.lastArrival), alerted: this.alerted } };
  }

  restore(state: DetectorState): void {
    const r = openState(state, 'detector.dropout', VERSION, this.settings);
    this.lastArrival = r.num('lastArrival');
    this.alerted = r.bool('alerted');
  }
}
