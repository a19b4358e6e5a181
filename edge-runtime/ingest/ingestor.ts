import type { Clock, Reading, SourceRecord } from '../engine/types.ts';
import { systemClock } from '../engine/types.ts';
import { hasOwnIdentity, type RecentReadings } from './recent-readings.ts';
import type { QuarantineInput } from '../state/store-types.ts';
import {
  checkReading, decodeFrame, deviceIdMatches, isDecodeError, matchMqttTopic, type DeviceProfile,
} from '../../devices/index.ts';

/**
 * One message as a transport received it, before any decoding. `deviceId` is
 * the identity the transport vouches for (the authenticated MQTT client, the
 * observed CoAP endpoint), or null when the transport cannot tell (external
 * broker mode: the topic names the device).
 */
export interface RawFrame {
  readonly transport: 'mqtt' | 'coap';
  readonly topicOrUri: string;
  readonly deviceId: string | null;
  readonly payload: Uint8Array;
  /** Processing time, taken once here at ingest (the only clock read on the data path). */
  readonly arrivalTime: number;
  /** The profile, when the transport already knows it (CoAP observes per profile); else resolved from the topic. */
  readonly profile?: DeviceProfile;
}

/** Stable codes for why a frame went to quarantine. */
export type QuarantineReason =
  | 'E_DECODE_SIZE' | 'E_DECODE_JSON' | 'E_DECODE_CBOR' | 'E_DECODE_SENML' | 'E_DECODE_FIELD' | 'E_DECODE_NONFINITE'
  | 'E_UNKNOWN_DEVICE'   // no profile's topic template and id pattern match
  | 'E_TOPIC_DENIED'     // an authenticated device published under another device's topic
  | 'E_UNKNOWN_METRIC'   // the profile has no such metric
  | 'E_OUT_OF_RANGE'     // outside the metric's valid range in the profile
  | 'E_EMPTY';           // decoded to no reading at all

export type IngestOutcome =
  /**
   * `readings`: readings written to the log by this frame (its duplicates are not); `lastOffset`: the
   * offset of the last of them, −1 when there is none (every reading was a duplicate).
   */
  | { readonly kind: 'accepted'; readonly readings: number; readonly lastOffset: number }
  | { readonly kind: 'quarantined'; readonly reason: QuarantineReason; readonly detail: string };

/** What the ingestor needs from the runtime: the durable log with backpressure. */
export interface DurableLog {
  append(record: SourceRecord): Promise<number>;
  readonly writable: boolean;
  drained(): Promise<void>;
}

/** What it needs from storage: the quarantine table. */
export interface QuarantineSink {
  quarantine(entries: readonly QuarantineInput[]): Promise<{ readonly ids: readonly number[] }>;
}

export interface IngestorOptions {
  readonly profiles: readonly DeviceProfile[];
  readonly log: DurableLog;
  readonly quarantine: QuarantineSink;
  readonly clock?: Clock;
  /** Largest payload accepted (default 64 KiB); larger ones are quarantined (truncated to this size). */
  readonly maxPayloadBytes?: number;
  /**
   * Values outside a metric's valid range: quarantine them (default: the profile's range is what
   * the sensor can physically report), or pass them on so pipelines' out-of-range detectors see them.
   */
  readonly outOfRange?: 'quarantine' | 'pass';
  /** Bad frames per quarantine write (default 256) and the longest a bad frame waits for its batch (default 5 ms). */
  readonly quarantineBatch?: number;
  readonly quarantineDelayMs?: number;
  /**
   * The identities of the last readings accepted (see recent-readings.ts): a reading whose
   * (deviceId, metric, eventTime) is there is a duplicate — not logged again, counted, and its frame
   * acknowledged once the original is durable. Absent: no de-duplication (at-least-once ingest).
   */
  readonly recent?: RecentReadings | null;
}

export interface IngestCounters {
  frames: number;
  readings: number;
  quarantined: number;
  quarantinedByReason: Partial<Record<QuarantineReason, number>>;
  /** Bytes of raw payload accepted (for rates). */
  bytes: number;
  /** Readings recognised as duplicates of one already accepted: not logged again, but acknowledged. */
  duplicates: number;
  /**
   * Per transport: frames that wrote at least one reading to the log (a frame whose readings were all
   * duplicates is acknowledged but not counted here), readings written, duplicates recognised.
   */
  byTransport: Record<'mqtt' | 'coap', { frames: number; readings: number; duplicates: number }>;
}

const DEFAULT_MAX = 64 * 1024;

/**
 * Whether the new readings of one frame are durable yet, for redeliveries of them (in other frames)
 * to wait on. A promise is made only when a redelivery actually waits.
 */
class FrameDurability {
  state: 'pending' | 'durable' | 'failed' = 'pending';
  private error: unknown = null;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] | null = null;

  wait(): Promise<void> {
    if (this.state === 'durable') return Promise.resolve();
    if (this.state === 'failed') return Promise.reject(this.error);
    return new Promise((resolve, reject) => (this.waiters ??= []).push({ resolve, reject }));
  }

  settle(error: unknown = null, failed = false): void {
    this.state = failed ? 'failed' : 'durable';
    this.error = error;
    for (const w of this.waiters ?? []) {
      if (failed) w.reject(error);
      else w.resolve();
    }
    this.waiters = null;
  }
}

/**
 * The shared ingest path of every transport (DESIGN "The data path"):
 * decode with the device's profile, validate, then make it durable — the
 * readings in the ingest log, or the frame in quarantine with a stable reason
 * code — and only then resolve, so the transport acknowledges (PUBACK, CoAP
 * ACK) nothing that is not on disk. A bad frame never throws out of here and
 * never stalls other devices' frames.
 *
 * Backpressure: `writable` is false while the log holds its maximum of
 * uncommitted records; transports then stop reading sockets and withhold
 * acks until `drained()` resolves.
 */
export class Ingestor {
  readonly counters: IngestCounters = {
    frames: 0, readings: 0, quarantined: 0, quarantinedByReason: {}, bytes: 0, duplicates: 0,
    byTransport: { mqtt: { frames: 0, readings: 0, duplicates: 0 }, coap: { frames: 0, readings: 0, duplicates: 0 } },
  };
  private readonly clock: Clock;
  private readonly maxBytes: number;
  private pendingBad: { entry: QuarantineInput; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private badTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly recent: RecentReadings | null;
  /**
   * By ring position of the table (ticket mod capacity): the durability of the frame that admitted the
   * live entry there, while its append is under way (then cleared). An array, not a Map: O(1) without hashing.
   */
  private readonly pendingAt: (FrameDurability | undefined)[];

  constructor(private readonly opts: IngestorOptions) {
    this.clock = opts.clock ?? systemClock;
    this.maxBytes = opts.maxPayloadBytes ?? DEFAULT_MAX;
    this.recent = opts.recent ?? null;
    this.pendingAt = new Array<FrameDurability | undefined>(this.recent?.capacity ?? 0);
  }

  /** Processing time for a frame that just arrived: read once, here. */
  now(): number {
    return this.clock.now();
  }

  get writable(): boolean {
    return this.opts.log.writable;
  }

  drained(): Promise<void> {
    return this.opts.log.drained();
  }

  /**
   * Resolves once the frame's readings (or its quarantine record) are durable. Never rejects for bad input.
   * With de-duplication, a duplicate reading is not written again; its frame resolves once the original
   * is durable, and rejects if the original's append failed (then neither is acknowledged, and the
   * identity is forgotten so that the next redelivery is taken afresh).
   */
  async submit(frame: RawFrame): Promise<IngestOutcome> {
    this.counters.frames++;
    const verdict = this.decode(frame);
    if (verdict.kind === 'bad') {
      await this.toQuarantine(frame, verdict.reason, verdict.detail, verdict.deviceId);
      return { kind: 'quarantined', reason: verdict.reason, detail: verdict.detail };
    }
    this.counters.bytes += frame.payload.byteLength;
    const t = this.counters.byTransport[frame.transport];
    const recent = this.recent;
    const readings = verdict.readings;
    if (recent === null) {
      const last = await this.append(readings);
      this.counters.readings += readings.length;
      t.frames++;
      t.readings += readings.length;
      return { kind: 'accepted', readings: readings.length, lastOffset: last };
    }
    // De-duplication. New identities are remembered before their append, so that a redelivery racing it waits
    // on it. Their tickets are consecutive (admitted in this synchronous loop): first … first + admitted − 1.
    const cap = recent.capacity;
    let fresh: Reading[] | null = null; // null while every reading so far is fresh
    let own: FrameDurability | null = null;
    let first = -1;
    let admitted = 0;
    let originals: FrameDurability[] | null = null;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      if (!hasOwnIdentity(r)) {
        fresh?.push(r);
        continue;
      }
      const k = recent.admit(r.deviceId, r.metric, r.eventTime);
      if (k >= 0) {
        if (own === null) {
          own = new FrameDurability();
          first = k;
        }
        this.pendingAt[k % cap] = own;
        admitted++;
        fresh?.push(r);
        continue;
      }
      // A duplicate: already durable, or its original's append (this frame's or another's) is under way.
      fresh ??= readings.slice(0, i);
      const o = this.pendingAt[(-1 - k) % cap];
      if (o !== undefined && o.state !== 'durable') (originals ??= []).push(o);
    }
    const toLog = fresh ?? readings;
    let last = -1;
    try {
      if (toLog.length > 0) last = await this.append(toLog);
    } catch (e) {
      // Not durable (or not known to be): forget the identities, so that the device's next redelivery is taken.
      for (let k = first; k < first + admitted; k++) {
        recent.remove(k);
        if (this.pendingAt[k % cap] === own) this.pendingAt[k % cap] = undefined;
      }
      own?.settle(e, true);
      throw e;
    }
    for (let k = first; k < first + admitted; k++) if (this.pendingAt[k % cap] === own) this.pendingAt[k % cap] = undefined;
    own?.settle();
    // First value wins: a duplicate is acknowledged only once its original is durable (rejects if that failed).
    if (originals !== null) for (const o of originals) await o.wait();
    const dups = readings.length - toLog.length;
    this.counters.readings += toLog.length;
    this.counters.duplicates += dups;
    t.duplicates += dups;
    if (toLog.length > 0) t.frames++;
    t.readings += toLog.length;
    return { kind: 'accepted', readings: toLog.length, lastOffset: last };
  }

  /** Appends the readings (waiting while the log is full) and resolves with the last one's offset once all are durable. */
  private async append(readings: readonly Reading[]): Promise<number> {
    let last = -1;
    const acks: Promise<number>[] = [];
    for (const r of readings) {
      const record: SourceRecord = { type: 'reading', reading: r };
      let ack: Promise<number> | null = null;
      while (ack === null) {
        if (!this.opts.log.writable) await this.opts.log.drained();
        ack = this.tryAppend(record);
      }
      // Awaited below, but a frame's readings fail together (one batch): without a handler on each,
      // the second rejection is unhandled and ends the process.
      ack.catch(() => {});
      acks.push(ack);
    }
    for (const a of acks) last = await a;
    return last;
  }

  /**
   * The append, or null when the log refused it as full (E_LOG_BACKPRESSURE): every submit waiting on
   * drained() wakes at once and the first of them can fill the log again, so the caller waits again
   * rather than losing the frame. Any other refusal (a closed runtime) is thrown.
   */
  private tryAppend(record: SourceRecord): Promise<number> | null {
    try {
      return this.opts.log.append(record);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'E_LOG_BACKPRESSURE') return null;
      throw e;
    }
  }

  private decode(frame: RawFrame):
    | { kind: 'ok'; readings: Reading[] }
    | { kind: 'bad'; reason: QuarantineReason; detail: string; deviceId: string | null } {
    let profile = frame.profile;
    let deviceId = frame.deviceId;
    if (profile === undefined) {
      const m = frame.transport === 'mqtt' ? matchMqttTopic(this.opts.profiles, frame.topicOrUri) : null;
      if (m === null) return { kind: 'bad', reason: 'E_UNKNOWN_DEVICE', detail: `no device profile matches ${frame.topicOrUri}`, deviceId };
      if (deviceId !== null && m.deviceId !== deviceId) {
        // [MQTT ACL] a device writes only its own data.
        return { kind: 'bad', reason: 'E_TOPIC_DENIED', detail: `device ${deviceId} may not publish to ${frame.topicOrUri}`, deviceId };
      }
      profile = m.profile;
      deviceId = m.deviceId;
    } else if (deviceId === null || !deviceIdMatches(profile, deviceId)) {
      return { kind: 'bad', reason: 'E_UNKNOWN_DEVICE', detail: `device ${String(deviceId)} does not match profile ${profile.name}`, deviceId };
    }
    if (frame.payload.byteLength > this.maxBytes) {
      return { kind: 'bad', reason: 'E_DECODE_SIZE', detail: `payload of ${frame.payload.byteLength} bytes exceeds ${this.maxBytes}`, deviceId };
    }
    let decoded;
    try {
      decoded = decodeFrame(profile, frame.payload, { deviceId, arrivalTime: frame.arrivalTime, maxBytes: this.maxBytes });
    } catch (e) {
      if (isDecodeError(e)) return { kind: 'bad', reason: e.code as QuarantineReason, detail: e.message, deviceId };
      return { kind: 'bad', reason: 'E_DECODE_FIELD', detail: `decoder failed: ${(e as Error).message}`, deviceId };
    }
    if (decoded.length === 0) return { kind: 'bad', reason: 'E_EMPTY', detail: 'payload holds no reading', deviceId };
    const readings: Reading[] = [];
    for (const d of decoded) {
      const issue = checkReading(profile, d);
      if (issue !== null) {
        if (issue.kind === 'unknown-metric') return { kind: 'bad', reason: 'E_UNKNOWN_METRIC', detail: `profile ${profile.name} has no metric ${issue.metric}`, deviceId };
        if (this.opts.outOfRange !== 'pass') {
          return { kind: 'bad', reason: 'E_OUT_OF_RANGE', detail: `${issue.metric} = ${issue.value} is outside [${issue.range[0]}, ${issue.range[1]}]`, deviceId };
        }
      }
      readings.push({
        deviceId: d.deviceId,
        metric: d.metric,
        value: d.value,
        eventTime: d.eventTime ?? frame.arrivalTime,
        arrivalTime: frame.arrivalTime,
      });
    }
    return { kind: 'ok', readings };
  }

  private toQuarantine(frame: RawFrame, reason: QuarantineReason, detail: string, deviceId: string | null): Promise<void> {
    this.counters.quarantined++;
    this.counters.quarantinedByReason[reason] = (this.counters.quarantinedByReason[reason] ?? 0) + 1;
    const raw = frame.payload.byteLength > this.maxBytes ? frame.payload.subarray(0, this.maxBytes) : frame.payload;
    const entry: QuarantineInput = {
      arrivalMs: frame.arrivalTime,
      source: frame.transport,
      topicOrUri: frame.topicOrUri.slice(0, 1024),
      deviceId: deviceId?.slice(0, 256) ?? null,
      reasonCode: reason,
      detail: detail.slice(0, 512),
      raw: Uint8Array.from(raw),
    };
    return new Promise<void>((resolve, reject) => {
      this.pendingBad.push({ entry, resolve, reject });
      if (this.pendingBad.length >= (this.opts.quarantineBatch ?? 256)) this.flushBad();
      else this.badTimer ??= setTimeout(() => this.flushBad(), this.opts.quarantineDelayMs ?? 5);
    });
  }

  private flushBad(): void {
    if (this.badTimer !== null) clearTimeout(this.badTimer);
    this.badTimer = null;
    const batch = this.pendingBad;
    this.pendingBad = [];
    if (batch.length === 0) return;
    this.opts.quarantine.quarantine(batch.map((b) => b.entry)).then(
      () => batch.forEach((b) => b.resolve()),
      (e: unknown) => batch.forEach((b) => b.reject(e)),
    );
  }

  /** Writes any quarantine batch still waiting (at shutdown). */
  flush(): void {
    this.flushBad();
  }
}
