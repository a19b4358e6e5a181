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
  /**
   * Appends the records (at least one) together, at consecutive offsets, durable together; resolves
   * with the first one's offset once durable. Throws E_LOG_BACKPRESSURE while the log is full.
   */
  appendBatch(records: readonly SourceRecord[]): Promise<number>;
  readonly writable: boolean;
  drained(): Promise<void>;
}

/**
 * Called once for each frame of a batch (its position in the batch) when it settled: with its outcome
 * once its readings or its quarantine record are durable, or with the error that kept them from it.
 */
export type FrameSettled = (index: number, outcome: IngestOutcome | null, error: unknown) => void;

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
 * Whether the new readings of one batch are durable yet, for redeliveries of them (in later batches)
 * to wait on. A promise is made only when a redelivery actually waits.
 */
class Durability {
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

/** Why a frame goes to quarantine (see decodeInto). */
interface Bad {
  readonly reason: QuarantineReason;
  readonly detail: string;
  readonly deviceId: string | null;
}

/** The frames of one submitBatch on their way to the log: one append, one promise, for all of them. */
class PendingBatch {
  /** The frames' new readings, in frame order: one segment. */
  readonly records: SourceRecord[] = [];
  /** Per frame: readings it writes to the log, or −1 when quarantined (settled by its quarantine write). */
  readonly written: number[] = [];
  /** Per frame: position just after its last record in `records`. */
  readonly ends: number[] = [];
  /** Per frame, with de-duplication: readings that were duplicates … */
  dups: number[] | null = null;
  /** … and the durabilities of their originals, where another batch's append is still under way. */
  originals: (Durability[] | null)[] | null = null;
  /** With de-duplication: this batch's durability, and the tickets it admitted (first … first + admitted − 1). */
  own: Durability | null = null;
  first = -1;
  admitted = 0;

  constructor(readonly frames: readonly RawFrame[], readonly settled: FrameSettled) {}
}

/**
 * The shared ingest path of every transport (DESIGN "The data path"):
 * decode with the device's profile, validate, then make it durable — the
 * readings in the ingest log, or the frame in quarantine with a stable reason
 * code — and only then settle, so the transport acknowledges (PUBACK, CoAP
 * ACK) nothing that is not on disk. A bad frame never throws out of here and
 * never stalls other devices' frames.
 *
 * Frames come in batches (the frames of one socket read, see ingest-flow.ts):
 * one log append and one promise per batch, whatever the number of readings,
 * since per-reading promises and closures were most of the cost per reading.
 * Batches reach the log in the order they were submitted.
 *
 * Backpressure: `writable` is false while the log holds its maximum of
 * uncommitted records; transports then stop reading sockets and withhold
 * acks until `drained()` resolves. A batch submitted meanwhile waits here, in order.
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
   * By ring position of the table (ticket mod capacity): the durability of the batch that admitted the
   * live entry there, while its append is under way (then cleared). An array, not a Map: O(1) without hashing.
   */
  private readonly pendingAt: (Durability | undefined)[];
  /** Batches the full log refused, waiting for drained() in submission order (from backlogHead on). */
  private backlog: PendingBatch[] = [];
  private backlogHead = 0;
  private drainWait = false;

  constructor(private readonly opts: IngestorOptions) {
    this.clock = opts.clock ?? systemClock;
    this.maxBytes = opts.maxPayloadBytes ?? DEFAULT_MAX;
    this.recent = opts.recent ?? null;
    this.pendingAt = new Array<Durability | undefined>(this.recent?.capacity ?? 0);
  }

  /** Processing time for a frame that just arrived: read once, here. */
  now(): number {
    return this.clock.now();
  }

  get writable(): boolean {
    return this.backlogHead === this.backlog.length && this.opts.log.writable;
  }

  drained(): Promise<void> {
    return this.opts.log.drained();
  }

  /**
   * Resolves once the frame's readings (or its quarantine record) are durable. Never rejects for bad
   * input; rejects when they could not be made durable. A batch of one (see submitBatch).
   */
  submit(frame: RawFrame): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      this.submitBatch([frame], (_, outcome, error) => (outcome === null ? reject(error) : resolve(outcome)));
    });
  }

  /**
   * Decodes the frames, quarantines the bad ones and appends the readings of the others to the log
   * together; `settled` runs once per frame (see FrameSettled), possibly before this returns.
   *
   * With de-duplication, a duplicate reading is not written again; its frame settles once the original
   * is durable, with the original's error if its append failed (then neither is acknowledged, and the
   * identity is forgotten so that the next redelivery is taken afresh).
   */
  submitBatch(frames: readonly RawFrame[], settled: FrameSettled): void {
    const b = new PendingBatch(frames, settled);
    const { records, written, ends } = b;
    const recent = this.recent;
    if (recent !== null) {
      b.dups = [];
      b.originals = [];
    }
    const c = this.counters;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      c.frames++;
      const start = records.length;
      const bad = this.decodeInto(frame, records);
      if (bad !== null) {
        written.push(-1);
        ends.push(start);
        b.dups?.push(0);
        b.originals?.push(null);
        this.toQuarantine(frame, bad).then(
          () => settled(i, { kind: 'quarantined', reason: bad.reason, detail: bad.detail }, null),
          (e: unknown) => settled(i, null, e),
        );
        continue;
      }
      c.bytes += frame.payload.byteLength;
      if (recent !== null) this.dedup(b, start);
      written.push(records.length - start);
      ends.push(records.length);
    }
    if (records.length === 0) this.durable(b, -1);
    else if (this.backlogHead === this.backlog.length && this.tryAppend(b)) return;
    else {
      this.backlog.push(b);
      this.awaitDrain();
    }
  }

  /**
   * De-duplicates the readings of one frame, records[start…], in place: new identities are remembered
   * before their append, so that a redelivery racing it waits on it; duplicates are dropped. The
   * tickets of one batch are consecutive (admitted in this synchronous pass).
   */
  private dedup(b: PendingBatch, start: number): void {
    const recent = this.recent!;
    const records = b.records;
    const cap = recent.capacity;
    let keep = start;
    let originals: Durability[] | null = null;
    for (let j = start; j < records.length; j++) {
      const rec = records[j]!;
      const r = (rec as { readonly reading: Reading }).reading;
      if (!hasOwnIdentity(r)) {
        records[keep++] = rec;
        continue;
      }
      const k = recent.admit(r.deviceId, r.metric, r.eventTime);
      if (k >= 0) {
        if (b.own === null) {
          b.own = new Durability();
          b.first = k;
        }
        this.pendingAt[k % cap] = b.own;
        b.admitted++;
        records[keep++] = rec;
        continue;
      }
      // A duplicate: already durable, or its original's append (this batch's or an earlier one's) is under way.
      const o = this.pendingAt[(-1 - k) % cap];
      if (o !== undefined && o !== b.own && o.state !== 'durable') (originals ??= []).push(o);
    }
    b.dups!.push(records.length - keep);
    b.originals!.push(originals);
    records.length = keep;
  }

  /**
   * Appends the batch, or returns false when the full log refused it (E_LOG_BACKPRESSURE): it then waits
   * for drained(). Any other refusal (a closed runtime) fails the batch at once.
   */
  private tryAppend(b: PendingBatch): boolean {
    let p: Promise<number>;
    try {
      p = this.opts.log.appendBatch(b.records);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'E_LOG_BACKPRESSURE') return false;
      this.failed(b, e);
      return true;
    }
    p.then((first) => this.durable(b, first), (e: unknown) => this.failed(b, e));
    return true;
  }

  /** One waiter on the log's drained() for the whole backlog; hands it on in order while the log takes it. */
  private awaitDrain(): void {
    if (this.drainWait) return;
    this.drainWait = true;
    const pump = (): void => {
      this.drainWait = false;
      while (this.backlogHead < this.backlog.length) {
        if (!this.tryAppend(this.backlog[this.backlogHead]!)) return this.awaitDrain();
        this.backlog[this.backlogHead++] = undefined as unknown as PendingBatch;
      }
      this.backlog = [];
      this.backlogHead = 0;
    };
    this.opts.log.drained().then(pump, pump);
  }

  /** The batch's readings are durable from offset `first` on: settle its frames (duplicates once their originals are). */
  private durable(b: PendingBatch, first: number): void {
    if (b.own !== null) {
      this.release(b);
      b.own.settle();
    }
    const c = this.counters;
    const { frames, written, ends, dups, originals, settled } = b;
    for (let i = 0; i < frames.length; i++) {
      const n = written[i]!;
      if (n < 0) continue;
      const t = c.byTransport[frames[i]!.transport];
      c.readings += n;
      t.readings += n;
      if (n > 0) t.frames++;
      const outcome: IngestOutcome = { kind: 'accepted', readings: n, lastOffset: n > 0 ? first + ends[i]! - 1 : -1 };
      const d = dups === null ? 0 : dups[i]!;
      const waitFor = originals === null ? null : originals[i]!;
      if (waitFor === null) {
        this.countDuplicates(t, d);
        settled(i, outcome, null);
      } else {
        // First value wins: a duplicate is acknowledged only once its original is durable (fails if that failed).
        Promise.all(waitFor.map((o) => o.wait())).then(() => {
          this.countDuplicates(t, d);
          settled(i, outcome, null);
        }, (e: unknown) => settled(i, null, e));
      }
    }
  }

  private countDuplicates(t: { duplicates: number }, n: number): void {
    this.counters.duplicates += n;
    t.duplicates += n;
  }

  /** The batch's append failed: nothing of it is durable (or known to be), so none of its frames is. */
  private failed(b: PendingBatch, e: unknown): void {
    if (b.own !== null) {
      // Forget the identities, so that the devices' next redeliveries are taken.
      for (let k = b.first; k < b.first + b.admitted; k++) this.recent!.remove(k);
      this.release(b);
      b.own.settle(e, true);
    }
    for (let i = 0; i < b.frames.length; i++) if (b.written[i]! >= 0) b.settled(i, null, e);
  }

  /** Clears the batch's entries in pendingAt (those not taken over by a later batch since). */
  private release(b: PendingBatch): void {
    const cap = this.recent!.capacity;
    for (let k = b.first; k < b.first + b.admitted; k++) if (this.pendingAt[k % cap] === b.own) this.pendingAt[k % cap] = undefined;
  }

  /**
   * Decodes and checks the frame; appends its readings to `out` and returns null, or returns why it
   * goes to quarantine (leaving `out` as it was).
   */
  private decodeInto(frame: RawFrame, out: SourceRecord[]): Bad | null {
    let profile = frame.profile;
    let deviceId = frame.deviceId;
    if (profile === undefined) {
      const m = frame.transport === 'mqtt' ? matchMqttTopic(this.opts.profiles, frame.topicOrUri) : null;
      if (m === null) return { reason: 'E_UNKNOWN_DEVICE', detail: `no device profile matches ${frame.topicOrUri}`, deviceId };
      if (deviceId !== null && m.deviceId !== deviceId) {
        // [MQTT ACL] a device writes only its own data.
        return { reason: 'E_TOPIC_DENIED', detail: `device ${deviceId} may not publish to ${frame.topicOrUri}`, deviceId };
      }
      profile = m.profile;
      deviceId = m.deviceId;
    } else if (deviceId === null || !deviceIdMatches(profile, deviceId)) {
      return { reason: 'E_UNKNOWN_DEVICE', detail: `device ${String(deviceId)} does not match profile ${profile.name}`, deviceId };
    }
    if (frame.payload.byteLength > this.maxBytes) {
      return { reason: 'E_DECODE_SIZE', detail: `payload of ${frame.payload.byteLength} bytes exceeds ${this.maxBytes}`, deviceId };
    }
    let decoded;
    try {
      decoded = decodeFrame(profile, frame.payload, { deviceId, arrivalTime: frame.arrivalTime, maxBytes: this.maxBytes });
    } catch (e) {
      if (isDecodeError(e)) return { reason: e.code as QuarantineReason, detail: e.message, deviceId };
      return { reason: 'E_DECODE_FIELD', detail: `decoder failed: ${(e as Error).message}`, deviceId };
    }
    if (decoded.length === 0) return { reason: 'E_EMPTY', detail: 'payload holds no reading', deviceId };
    const start = out.length;
    for (const d of decoded) {
      const issue = checkReading(profile, d);
      if (issue !== null) {
        if (issue.kind === 'unknown-metric') {
          out.length = start;
          return { reason: 'E_UNKNOWN_METRIC', detail: `profile ${profile.name} has no metric ${issue.metric}`, deviceId };
        }
        if (this.opts.outOfRange !== 'pass') {
          out.length = start;
          return { reason: 'E_OUT_OF_RANGE', detail: `${issue.metric} = ${issue.value} is outside [${issue.range[0]}, ${issue.range[1]}]`, deviceId };
        }
      }
      out.push({
        type: 'reading',
        reading: { deviceId: d.deviceId, metric: d.metric, value: d.value, eventTime: d.eventTime ?? frame.arrivalTime, arrivalTime: frame.arrivalTime },
      });
    }
    return null;
  }

  private toQuarantine(frame: RawFrame, { reason, detail, deviceId }: Bad): Promise<void> {
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
