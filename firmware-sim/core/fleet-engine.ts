/**
 * The fleet's discrete-event loop in simulated time. It owns what real
 * firmware decides — when to sample, whether the link is up, buffering while
 * it is down, reconnecting with backoff, replaying the buffer with original
 * timestamps — and hands bytes to a `FleetTransport`. Record mode plugs in a
 * transport that writes NDJSON; live mode plugs in MQTT/CoAP and drives
 * `runUntil` from the wall clock. The loop itself never reads a clock.
 */
import type { DeviceProfile } from '../../devices/index.ts';
import { EventQueue } from './event-queue.ts';
import { MALFORMED_KINDS, encodePayload, malformedPayload } from './payload.ts';
import type { MalformedKind, TimedReading } from './payload.ts';
import { Prng, hashFloat, mixSeed } from './prng.ts';
import type { Label, SimDevice } from './sim-device.ts';
import { FleetStats } from './fleet-stats.ts';
import { SimError } from './sim-error.ts';

export interface LinkConfig {
  /** Mean random link outages per MQTT device per simulated day (0 = none). */
  readonly outagesPerDay: number;
  /** Mean length of a random outage, ms. */
  readonly meanOutageMs: number;
  /** Reconnect storms: every `everyMs`, `fraction` of MQTT devices lose the link for `durationMs`. */
  readonly storm: { readonly everyMs: number; readonly durationMs: number; readonly fraction: number; readonly firstAtMs: number } | null;
  /** Reconnect backoff: attempt n waits min(cap, base·2^n)·U(0.5, 1) ("equal jitter"). */
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** One-way network latency: base + Exp(mean jitter), ms. */
  readonly latencyBaseMs: number;
  readonly latencyJitterMs: number;
  /** Messages a device buffers while offline; the oldest are dropped beyond this. */
  readonly bufferLimit: number;
  /** Spacing between replayed messages after a reconnect, ms. */
  readonly replaySpacingMs: number;
  /** Share of devices whose firmware replays newest-first (live data first, backlog after). */
  readonly newestFirstShare: number;
}

export interface EngineConfig {
  readonly seed: number;
  readonly start: number;
  readonly end: number | null;
  /** Probability that a message is sent malformed. */
  readonly badRate: number;
  /** Build payload bytes (live mode); record mode needs only the readings. */
  readonly encodePayloads: boolean;
  readonly link: LinkConfig;
}

/** One message a device sends: one sample, with what it carries. */
export interface OutMessage {
  readonly deviceId: string;
  readonly profile: DeviceProfile;
  readonly k: number;
  readonly sampleTime: number;
  readonly readings: readonly TimedReading[];
  /** Payload bytes; null when the engine does not encode (record mode). */
  readonly payload: Uint8Array | null;
  readonly malformed: MalformedKind | null;
  /** Came out of the offline buffer after a reconnect. */
  replayed: boolean;
}

/** What carries messages: MQTT/CoAP clients in live mode, a file writer in record mode. */
export interface FleetTransport {
  /** Opens the device's link; calls `done(true)` once usable, `done(false)` if the attempt failed. */
  connect(device: SimDevice, done: (ok: boolean) => void): void;
  /** Drops the device's link abruptly (the simulated network went away). */
  disconnect(device: SimDevice): void;
  /** Delivers one message; `arrival` is the simulated time it reaches the gateway. */
  send(device: SimDevice, msg: OutMessage, arrival: number): void;
}

/** What the engine reports as it runs: ground-truth labels, and link changes (for logs and tests). */
export interface EngineHooks {
  label(l: Label): void;
  linkUp?(deviceId: string, now: number): void;
  linkDown?(deviceId: string, now: number): void;
}

type LinkState = 'up' | 'down' | 'connecting';

interface Dev {
  readonly device: SimDevice;
  readonly mqtt: boolean;
  readonly link: Prng;
  /** Seed for stateless per-message draws (latency). */
  readonly latencySeed: number;
  readonly newestFirst: boolean;
  state: LinkState;
  downUntil: number;
  gen: number;
  buffer: OutMessage[];
}

type Ev =
  | { readonly time: number; readonly kind: 'sample'; readonly dev: Dev }
  | { readonly time: number; readonly kind: 'deliver'; readonly dev: Dev; readonly msg: OutMessage }
  | { readonly time: number; readonly kind: 'outage'; readonly dev: Dev }
  | { readonly time: number; readonly kind: 'attempt'; readonly dev: Dev; readonly n: number; readonly gen: number }
  | { readonly time: number; readonly kind: 'storm'; readonly n: number };

export class FleetEngine {
  readonly stats = new FleetStats();
  private readonly q = new EventQueue<Ev>();
  private readonly devs: Dev[];
  private readonly byId = new Map<string, Dev>();
  private nowMs: number;

  constructor(
    devices: readonly SimDevice[],
    private readonly cfg: EngineConfig,
    private readonly transport: FleetTransport,
    private readonly hooks: EngineHooks,
  ) {
    this.nowMs = cfg.start;
    this.devs = devices.map((device) => {
      const link = Prng.derive(cfg.seed, device.id, 'link');
      const d: Dev = {
        device,
        mqtt: device.profile.transport.kind === 'mqtt',
        link,
        latencySeed: mixSeed(cfg.seed, device.id, 'latency'),
        newestFirst: link.chance(cfg.link.newestFirstShare),
        state: 'down',
        downUntil: cfg.start,
        gen: 0,
        buffer: [],
      };
      this.byId.set(device.id, d);
      return d;
    });
    for (const d of this.devs) {
      this.q.push({ time: cfg.start, kind: 'attempt', dev: d, n: 0, gen: 0 });
      const t = d.device.nextSampleTime();
      if (t !== null) this.q.push({ time: t, kind: 'sample', dev: d });
      if (d.mqtt && cfg.link.outagesPerDay > 0) this.scheduleOutage(d, cfg.start);
    }
    const storm = cfg.link.storm;
    if (storm !== null) this.scheduleStorm(0);
  }

  /** Current simulated time. */
  get now(): number {
    return this.nowMs;
  }

  get pendingEvents(): number {
    return this.q.size;
  }

  /** Is the device's link up (per the engine's view)? */
  linkState(deviceId: string): LinkState | undefined {
    return this.byId.get(deviceId)?.state;
  }

  bufferedMessages(deviceId: string): number {
    return this.byId.get(deviceId)?.buffer.length ?? 0;
  }

  /**
   * Processes every event due at or before `t` (at most `maxEvents`), then
   * advances the clock to `t`. Returns true when caught up.
   */
  runUntil(t: number, maxEvents = Number.POSITIVE_INFINITY): boolean {
    let n = 0;
    while (this.q.size > 0 && this.q.peekTime() <= t) {
      if (n++ >= maxEvents) return false;
      const ev = this.q.pop() as Ev;
      this.nowMs = Math.max(this.nowMs, ev.time);
      this.handle(ev);
    }
    if (Number.isFinite(t)) this.nowMs = Math.max(this.nowMs, t);
    return true;
  }

  /** Runs to completion: every sample taken, every buffered message delivered (record mode). */
  finish(): void {
    if (this.cfg.end === null) throw new SimError('E_SIM_USAGE', 'finish() needs a run with an end');
    this.runUntil(Number.POSITIVE_INFINITY);
  }

  /** The transport lost a device's link on its own (broker gone, socket error). */
  linkLost(deviceId: string): void {
    const d = this.byId.get(deviceId);
    if (d === undefined || d.state === 'down') return;
    this.goDown(d, this.nowMs);
  }

  /**
   * A message the transport could not get acknowledged (QoS 1, link dropped
   * before the PUBACK): the firmware keeps it and sends it again.
   */
  requeue(deviceId: string, msg: OutMessage): void {
    const d = this.byId.get(deviceId);
    if (d === undefined) return;
    this.stats.requeued++;
    if (d.state === 'up') this.q.push({ time: this.nowMs, kind: 'deliver', dev: d, msg });
    else d.buffer.unshift(msg);
  }

  /** A device's link dropped at the transport's wish: simulate a network outage of `ms` from now. */
  forceOutage(deviceId: string, ms: number): void {
    const d = this.byId.get(deviceId);
    if (d !== undefined) this.outage(d, this.nowMs + ms);
  }

  private handle(ev: Ev): void {
    switch (ev.kind) {
      case 'sample': return this.onSample(ev.dev);
      case 'deliver': return this.onDeliver(ev.dev, ev.msg);
      case 'outage': return this.onRandomOutage(ev.dev);
      case 'attempt': return this.onAttempt(ev.dev, ev.n, ev.gen);
      case 'storm': return this.onStorm(ev.n);
    }
  }

  private onSample(d: Dev): void {
    const { sample, labels } = d.device.takeSample();
    for (const l of labels) {
      this.hooks.label(l);
      this.stats.label(l.kind);
    }
    const next = d.device.nextSampleTime();
    if (next !== null) this.q.push({ time: next, kind: 'sample', dev: d });
    this.stats.samples++;
    if (sample.readings.length === 0) return;
    const readings: readonly TimedReading[] = sample.readings;
    const id = d.device.id;
    const profile = d.device.profile;
    let malformed: MalformedKind | null = null;
    // Decided by a per-message stream so the choice is the same whether or not bytes are built.
    const bad = this.cfg.badRate > 0 ? Prng.derive(this.cfg.seed, id, 'bad', sample.k) : null;
    if (bad !== null && bad.chance(this.cfg.badRate)) malformed = bad.pick(MALFORMED_KINDS);
    let payload: Uint8Array | null = null;
    if (this.cfg.encodePayloads) {
      payload = malformed === null ? encodePayload(profile, id, readings) : malformedPayload(profile, id, readings, malformed, bad as Prng);
    }
    const msg: OutMessage = { deviceId: id, profile, k: sample.k, sampleTime: sample.trueTime, readings, payload, malformed, replayed: false };
    this.stats.readings += readings.length;
    if (d.state === 'up') this.q.push({ time: this.nowMs + this.latency(d, sample.k), kind: 'deliver', dev: d, msg });
    else this.bufferMessage(d, msg);
  }

  private bufferMessage(d: Dev, msg: OutMessage): void {
    d.buffer.push(msg);
    this.stats.bufferedMessages++;
    if (d.buffer.length > this.cfg.link.bufferLimit) {
      const lost = d.buffer.shift() as OutMessage;
      this.stats.bufferDrops++;
      this.stats.readingsDroppedFromBuffer += lost.readings.length;
    }
  }

  private onDeliver(d: Dev, msg: OutMessage): void {
    if (d.state !== 'up') {
      // The link dropped while this was in flight: the firmware keeps it for the replay.
      d.buffer.unshift(msg);
      return;
    }
    this.stats.delivered(msg);
    this.transport.send(d.device, msg, this.nowMs);
  }

  /** Latency of sample k's message: a stateless draw, so faults or outages elsewhere do not shift it. */
  private latency(d: Dev, k: number): number {
    const l = this.cfg.link;
    const u = hashFloat(d.latencySeed, k);
    return l.latencyBaseMs + Math.floor(-l.latencyJitterMs * Math.log(1 - u));
  }

  private backoff(d: Dev, n: number): number {
    const l = this.cfg.link;
    const ceiling = Math.min(l.backoffCapMs, l.backoffBaseMs * 2 ** Math.min(n, 30));
    return Math.max(1, Math.floor(ceiling * d.link.range(0.5, 1)));
  }

  private beforeEnd(t: number): boolean {
    return this.cfg.end === null || t < this.cfg.end;
  }

  private scheduleOutage(d: Dev, from: number): void {
    const t = from + Math.floor(d.link.exp(86_400_000 / this.cfg.link.outagesPerDay));
    if (this.beforeEnd(t)) this.q.push({ time: t, kind: 'outage', dev: d });
  }

  private onRandomOutage(d: Dev): void {
    const until = this.nowMs + Math.max(1000, Math.floor(d.link.exp(this.cfg.link.meanOutageMs)));
    this.outage(d, until);
    this.scheduleOutage(d, until);
  }

  private scheduleStorm(n: number): void {
    const s = this.cfg.link.storm;
    if (s === null) return;
    const t = this.cfg.start + s.firstAtMs + n * s.everyMs;
    if (this.beforeEnd(t)) this.q.push({ time: t, kind: 'storm', n });
  }

  private onStorm(n: number): void {
    const s = this.cfg.link.storm;
    if (s === null) return;
    const rng = Prng.derive(this.cfg.seed, 'storm', n);
    this.stats.storms++;
    for (const d of this.devs) {
      if (d.mqtt && rng.chance(s.fraction)) this.outage(d, this.nowMs + s.durationMs);
    }
    this.scheduleStorm(n + 1);
  }

  /** The network is unusable for this device until `until`. */
  private outage(d: Dev, until: number): void {
    this.stats.outages++;
    d.downUntil = Math.max(d.downUntil, until);
    if (d.state !== 'down') {
      this.transport.disconnect(d.device);
      this.goDown(d, this.nowMs);
    }
  }

  private goDown(d: Dev, now: number): void {
    d.state = 'down';
    d.gen++;
    this.hooks.linkDown?.(d.device.id, now);
    this.q.push({ time: now + this.backoff(d, 0), kind: 'attempt', dev: d, n: 0, gen: d.gen });
  }

  private onAttempt(d: Dev, n: number, gen: number): void {
    if (gen !== d.gen || d.state !== 'down') return;
    if (this.nowMs < d.downUntil) {
      this.stats.failedAttempts++;
      this.q.push({ time: this.nowMs + this.backoff(d, n + 1), kind: 'attempt', dev: d, n: n + 1, gen });
      return;
    }
    d.state = 'connecting';
    this.stats.connectAttempts++;
    this.transport.connect(d.device, (ok) => {
      if (gen !== d.gen || d.state !== 'connecting') return; // superseded by a later outage
      if (!ok) {
        d.state = 'down';
        this.stats.failedAttempts++;
        this.q.push({ time: this.nowMs + this.backoff(d, n + 1), kind: 'attempt', dev: d, n: n + 1, gen });
        return;
      }
      d.state = 'up';
      this.stats.connects++;
      this.hooks.linkUp?.(d.device.id, this.nowMs);
      this.flush(d);
    });
  }

  /** Replays the offline buffer with the original timestamps, oldest- or newest-first per firmware. */
  private flush(d: Dev): void {
    if (d.buffer.length === 0) return;
    const msgs = d.newestFirst ? d.buffer.reverse() : d.buffer;
    d.buffer = [];
    const t0 = this.nowMs + this.latency(d, msgs[0].k);
    msgs.forEach((msg, i) => {
      msg.replayed = true;
      this.q.push({ time: t0 + i * this.cfg.link.replaySpacingMs, kind: 'deliver', dev: d, msg });
    });
  }
}
