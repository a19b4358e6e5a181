/**
 * One simulated device: its clock (offset + drift), its sampling schedule
 * (interval, phase, jitter), and per metric a clean signal plus a fault track.
 * `takeSample()` produces what the firmware measured at sample k, and the
 * ground-truth labels of faults that start there.
 */
import type { DeviceProfile, MetricSpec } from '../../devices/index.ts';
import { metricDecimals } from '../../devices/index.ts';
import { FaultTrack } from './faults.ts';
import type { FaultConfig, FaultKind } from './faults.ts';
import { Prng, hashFloat, mixSeed } from './prng.ts';
import { SignalGenerator } from './signal.ts';

export interface Label {
  readonly deviceId: string;
  readonly metric: string;
  /** Device-clock ms of the first affected sample. */
  readonly start: number;
  /** Device-clock ms just after the last affected sample (half-open). */
  readonly end: number;
  readonly kind: FaultKind;
}

export interface SampleReading {
  readonly metric: string;
  readonly value: number;
  /** The device-clock timestamp of the sample (the same for every reading of a sample). */
  readonly eventTime: number;
}

export interface Sample {
  readonly k: number;
  /** True (reference) time the sample was taken, ms. */
  readonly trueTime: number;
  /** The device's own clock at that moment: what it reports as the timestamp. */
  readonly deviceTime: number;
  /** Reported values; metrics in a dropout are absent. */
  readonly readings: readonly SampleReading[];
}

export interface DeviceOptions {
  readonly profile: DeviceProfile;
  readonly id: string;
  readonly seed: number;
  readonly intervalMs: number;
  /** Simulation start and (optional) end, true time ms. */
  readonly start: number;
  readonly end: number | null;
  readonly faults: FaultConfig;
  readonly skewMaxMs: number;
  readonly driftMaxPpm: number;
  readonly jitterMaxMs: number;
}

interface MetricState {
  readonly name: string;
  readonly spec: MetricSpec;
  readonly scale: number;
  readonly signal: SignalGenerator;
  readonly faults: FaultTrack;
  previous: number | null;
}

export class SimDevice {
  readonly id: string;
  readonly profile: DeviceProfile;
  readonly intervalMs: number;
  readonly skewOffsetMs: number;
  readonly driftPpm: number;
  readonly phaseMs: number;
  private readonly jitterMs: number;
  private readonly jitterSeed: number;
  private readonly start: number;
  private readonly end: number | null;
  private readonly metrics: MetricState[];
  private k = 0;

  constructor(private readonly options: DeviceOptions) {
    const o = options;
    this.id = o.id;
    this.profile = o.profile;
    this.intervalMs = o.intervalMs;
    this.jitterSeed = mixSeed(o.seed, o.id, 'jitter');
    this.start = o.start;
    this.end = o.end;
    const clock = Prng.derive(o.seed, o.id, 'clock');
    this.skewOffsetMs = clock.range(-o.skewMaxMs, o.skewMaxMs);
    this.driftPpm = clock.range(-o.driftMaxPpm, o.driftMaxPpm);
    this.phaseMs = clock.int(o.intervalMs);
    this.jitterMs = Math.min(o.jitterMaxMs, Math.floor(o.intervalMs / 10));
    this.metrics = Object.entries(o.profile.metrics).map(([name, spec]) => ({
      name,
      spec,
      scale: 10 ** metricDecimals(spec),
      signal: new SignalGenerator(spec, Prng.derive(o.seed, o.id, name, 'signal'), o.start),
      faults: new FaultTrack(spec, Prng.derive(o.seed, o.id, name, 'faults'), o.intervalMs, o.faults),
      previous: null,
    }));
  }

  /** True time of sample k. */
  sampleTime(k: number): number {
    const jitter = this.jitterMs > 0 ? Math.floor(hashFloat(this.jitterSeed, k) * this.jitterMs) : 0;
    return this.start + this.phaseMs + k * this.intervalMs + jitter;
  }

  /** The device clock reading at true time t. */
  deviceTime(t: number): number {
    return Math.round(t + this.skewOffsetMs + ((t - this.start) * this.driftPpm) / 1e6);
  }

  /** True time of the next sample, or null when the run ends before it. */
  nextSampleTime(): number | null {
    const t = this.sampleTime(this.k);
    return this.end !== null && t >= this.end ? null : t;
  }

  /** Number of samples taken so far. */
  get samplesTaken(): number {
    return this.k;
  }

  /** Index of the first sample at or after the run's end (samples [0, kEnd) exist). */
  private kEnd(): number {
    if (this.end === null) return Number.POSITIVE_INFINITY;
    let k = Math.max(0, Math.ceil((this.end - this.start - this.phaseMs) / this.intervalMs) - 1);
    while (this.sampleTime(k) < this.end) k++;
    while (k > 0 && this.sampleTime(k - 1) >= this.end) k--;
    return k;
  }

  /**
   * Sample 0 as this device will take it, computed on a fresh copy (same seed,
   * so the same values) without advancing this device. For a CoAP resource's
   * representation before the first sample is due.
   */
  peekFirstSample(): Sample {
    return new SimDevice(this.options).takeSample().sample;
  }

  /** Takes sample k (the next one) and returns it with the labels of faults starting at it. */
  takeSample(): { sample: Sample; labels: Label[] } {
    const k = this.k++;
    const trueTime = this.sampleTime(k);
    const eventTime = this.deviceTime(trueTime);
    const labels: Label[] = [];
    const readings: SampleReading[] = [];
    for (const m of this.metrics) {
      const clean = m.signal.next(trueTime);
      const fault = m.faults.faultAt(k);
      if (fault !== null && fault.k0 === k) {
        const last = Math.min(fault.k1, this.kEnd()) - 1;
        labels.push({
          deviceId: this.id,
          metric: m.name,
          start: eventTime,
          end: this.deviceTime(this.sampleTime(last)) + 1,
          kind: fault.kind,
        });
      }
      const r = m.faults.apply(k, clean, m.previous);
      if (r.kind === 'drop') continue;
      const value = Math.round(r.value * m.scale) / m.scale || 0; // `|| 0` turns -0 into 0
      m.previous = value;
      readings.push({ metric: m.name, value, eventTime });
    }
    return { sample: { k, trueTime, deviceTime: eventTime, readings }, labels };
  }
}
