/**
 * A metric's fault-free signal: daily seasonality, trend, AR(1) noise, or a
 * counter that only grows. Each device gets its own variation of the
 * profile's parameters (base offset, amplitude, phase), drawn once from its
 * own PRNG stream. Values are clamped to the metric's range: a healthy sensor
 * saturates, it does not report impossible values (those come from faults).
 */
import type { MetricSpec } from '../../devices/index.ts';
import { Prng } from './prng.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export class SignalGenerator {
  private readonly base: number;
  private readonly amplitude: number;
  private readonly peakHour: number;
  private readonly trendPerDay: number;
  private readonly sigma: number;
  private readonly phi: number;
  private readonly counter: boolean;
  private readonly ratePerHour: number;
  private ar = 0;
  private total: number;
  private lastTime: number | null = null;

  /**
   * @param rng this metric's own stream (device × metric)
   * @param t0 simulation start (ms): the trend is measured from it
   */
  constructor(private readonly spec: MetricSpec, private readonly rng: Prng, private readonly t0: number) {
    const s = spec.signal;
    const width = spec.range[1] - spec.range[0];
    this.counter = s.kind === 'counter';
    this.sigma = s.noise ?? 0;
    this.phi = s.smoothing ?? 0;
    this.amplitude = (s.dailyAmplitude ?? 0) * rng.range(0.75, 1.25);
    this.peakHour = (s.peakHour ?? 12) + rng.normal() * 0.75;
    this.trendPerDay = (s.trendPerDay ?? 0) * rng.range(0.5, 1.5);
    this.ratePerHour = (s.ratePerHour ?? 0) * rng.range(0.6, 1.4);
    // Devices of one kind differ a little from each other (placement, calibration).
    const spread = Math.min(width * 0.02, 3 * this.sigma + 0.1 * this.amplitude);
    this.base = this.counter ? s.base * rng.range(0.5, 1.5) : s.base + rng.normal() * spread;
    this.total = this.base;
    this.ar = rng.normal() * this.sigma;
  }

  /** The value at true time `t` (ms). Calls must come in time order. */
  next(t: number): number {
    if (this.counter) return this.nextCounter(t);
    const days = (t - this.t0) / DAY_MS;
    const hour = ((t % DAY_MS) + DAY_MS) % DAY_MS / HOUR_MS;
    const seasonal = this.amplitude * Math.cos((2 * Math.PI * (hour - this.peakHour)) / 24);
    this.ar = this.phi * this.ar + Math.sqrt(1 - this.phi * this.phi) * this.sigma * this.rng.normal();
    const v = this.base + seasonal + this.trendPerDay * days + this.ar;
    const [min, max] = this.spec.range;
    return Math.min(max, Math.max(min, v));
  }

  private nextCounter(t: number): number {
    if (this.lastTime !== null) {
      const hours = Math.max(0, t - this.lastTime) / HOUR_MS;
      const jitter = Math.max(0, 1 + this.sigma * this.rng.normal());
      this.total += this.ratePerHour * hours * jitter;
    }
    this.lastTime = t;
    return this.total;
  }
}
