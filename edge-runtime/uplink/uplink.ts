import { encodeSnapshot, type BatchAck } from '../../cloud-sync/protocol.ts';
import { systemClock, type Clock } from '../engine/types.ts';
import { systemTimer, type Timer } from '../state/group-commit-log.ts';
import type { OutboxRow } from '../state/store-types.ts';
import { silentLogger, type Logger } from '../log.ts';
import { heartbeatBody } from './heartbeat.ts';
import { CloudClient } from './cloud-client.ts';
import { Backoff } from './backoff.ts';
import { Pacer } from './batch-builder.ts';
import { OutboxReader, type Built, type Prepared } from './outbox-reader.ts';
import { takeSnapshot } from './snapshot.ts';
import { UplinkError } from './uplink-errors.ts';
import type { UplinkEvent, UplinkOptions, UplinkStats, WaitReason } from './uplink-types.ts';

/**
 * Store-and-forward to cloud-sync (DESIGN invariant 4): reads the outbox in
 * seq order, sends batches, trims only what the cloud acked. One loop, one
 * request at a time, every wait on the injected timer:
 *
 * 1. heartbeat when due (also at start: it tells the cloud's contiguous seq);
 * 2. checkpoint snapshot when due (when the checkpoint changed);
 * 3. live first: while a backlog is queued (more than one batch), priority-0
 *    rows beyond the current batch go up at once on the live lane;
 * 4. the next ordered batch: from the cursor, up to maxRecords / maxBytes;
 *    a partial batch waits until its oldest row is maxAgeMs old (unless it
 *    holds an anomaly); a batch of replayed rows waits for the bandwidth cap.
 *    While a backlog drains, up to maxInFlight batches are in flight and the
 *    next one is read and encoded meanwhile.
 *
 * Rows are `replayed` when they were written before the uplink started or
 * before it recovered from its last failure, or are sent while failing.
 * Failures wait with exponential backoff and full jitter, or Retry-After
 * on 429/503; E_SEQ_GAP rewinds the cursor to the cloud's contiguous seq
 * (whose missing seqs this outbox no longer has are then declared skipped).
 * If the cloud holds seqs this gateway never issued, its outbox was reset
 * (a wiped disk without restore): the uplink stops with E_UPLINK_SEQ_REUSED
 * rather than have new rows acked as duplicates of old ones. Options: UplinkOptions (uplink-types.ts).
 */
interface Wait {
  readonly ms: number;
  /** notify() ends it early (not so for backoff). */
  readonly interruptible: boolean;
  readonly reason: WaitReason;
}

const NOW: Wait = { ms: 0, interruptible: true, reason: 'idle' };

export class Uplink {
  readonly stats: UplinkStats = {
    batches: 0, liveBatches: 0, records: 0, wireBytes: 0, stored: 0, duplicates: 0, tombstoned: 0, contiguousSeq: 0,
    failures: 0, consecutiveFailures: 0, lastErrorCode: null, heartbeats: 0, snapshots: 0, gapRewinds: 0, batchShrinks: 0,
  };
  private readonly client: CloudClient;
  private readonly clock: Clock;
  private readonly timer: Timer;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  private readonly pacer: Pacer;
  private readonly listeners = new Set<(e: UplinkEvent) => void>();
  private readonly reader: OutboxReader;
  private cursor = 0;
  private liveCursor = 0;
  private knownIssued = 0;
  private replayedBefore = 0;
  private nextHeartbeatAt = 0;
  private nextSnapshotAt = 0;
  private lastSnapshotId = 0;
  private gapStreak = 0;
  private wasIdle = false;
  private ageHead: { seq: number; seenAt: number } | null = null;
  private ahead: { cursor: number; promise: Promise<Prepared> } | null = null;
  private notified = false;
  private readonly maxInFlight: number;
  private running = false;
  private loop: Promise<void> | null = null;
  private waker: { interruptible: boolean; wake: () => void } | null = null;

  constructor(private readonly o: UplinkOptions) {
    this.clock = o.clock ?? systemClock;
    this.timer = o.timer ?? systemTimer;
    this.logger = o.logger ?? silentLogger;
    this.client = new CloudClient({ ...o.cloud, timer: this.timer, clock: this.clock });
    this.backoff = new Backoff({ ...o.backoff, ...(o.random !== undefined ? { random: o.random } : {}) });
    this.pacer = new Pacer(o.backlogBytesPerSec);
    this.reader = new OutboxReader(o.store, o.cloud.gatewayId, this.replayed, o.batch?.maxRecords ?? 2000, o.batch?.maxBytes ?? 1024 * 1024, o.compressionLevel ?? 1);
    this.maxInFlight = Math.max(1, o.maxInFlight ?? 2);
  }

  /** Events for metrics and tests: acked, failed, idle, heartbeat, snapshot, fatal. Returns the unsubscribe function. */
  onEvent(fn: (e: UplinkEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves with the first event that matches. */
  waitFor(pred: (e: UplinkEvent) => boolean): Promise<UplinkEvent> {
    return new Promise((resolve) => {
      const off = this.onEvent((e) => {
        if (pred(e)) {
          off();
          resolve(e);
        }
      });
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New outbox rows were committed (call after each checkpoint): look now instead of at the next poll. */
  notify(): void {
    this.notified = true;
    if (this.waker?.interruptible === true) this.waker.wake();
  }

  /** Stops after aborting what is in flight; the outbox keeps everything not acked. */
  async stop(): Promise<void> {
    this.running = false;
    this.client.close();
    this.waker?.wake();
    await this.loop;
  }

  private emit(e: UplinkEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private async run(): Promise<void> {
    try {
      const st = await this.o.store.outboxStats(this.clock.now());
      this.cursor = this.liveCursor = this.stats.contiguousSeq = st.ackedSeq;
      this.knownIssued = st.nextSeq - 1;
    } catch (e) {
      this.running = false;
      this.emit({ type: 'fatal', code: (e as { code?: string }).code ?? 'E_UNKNOWN', message: `cannot read the outbox: ${(e as Error).message}` });
      return;
    }
    this.replayedBefore = this.nextHeartbeatAt = this.nextSnapshotAt = this.clock.now();
    while (this.running) {
      let wait: Wait;
      try {
        wait = await this.step();
      } catch (e) {
        if (!this.running) break;
        wait = this.failed(e);
      }
      if (this.running && wait.ms > 0) await this.sleep(wait);
    }
    this.client.close();
  }

  private sleep(w: Wait): Promise<void> {
    return new Promise((resolve) => {
      const h = this.timer.set(() => wake(), w.ms);
      const wake = (): void => {
        this.timer.clear(h);
        this.waker = null;
        resolve();
      };
      this.waker = { interruptible: w.interruptible, wake };
      this.emit({ type: 'waiting', reason: w.reason, ms: w.ms });
    });
  }

  private untilDue(now: number, ms: number): number {
    let t = now + ms;
    if ((this.o.heartbeatIntervalMs ?? 60_000) > 0) t = Math.min(t, this.nextHeartbeatAt);
    if ((this.o.snapshotIntervalMs ?? 300_000) > 0) t = Math.min(t, this.nextSnapshotAt);
    return Math.max(1, t - now);
  }

  private async step(): Promise<Wait> {
    const now = this.clock.now();
    const hbEvery = this.o.heartbeatIntervalMs ?? 60_000;
    if (hbEvery > 0 && now >= this.nextHeartbeatAt) {
      await this.heartbeat(now);
      this.nextHeartbeatAt = now + hbEvery;
      return NOW;
    }
    const snapEvery = this.o.snapshotIntervalMs ?? 300_000;
    if (snapEvery > 0 && now >= this.nextSnapshotAt) {
      await this.snapshot(now);
      this.nextSnapshotAt = now + snapEvery;
      return NOW;
    }
    // The rows after the cursor: prepared ahead while the previous batch was in flight, or read now.
    const p = this.ahead?.cursor === this.cursor ? await this.ahead.promise : await this.reader.prepare(this.cursor, now, false);
    this.ahead = null;
    const { rows, more } = p;
    if (rows.length === 0) {
      if (!this.wasIdle) {
        this.wasIdle = true;
        this.emit({ type: 'idle', contiguousSeq: this.stats.contiguousSeq });
      }
      return { ms: this.untilDue(now, this.o.pollIntervalMs ?? 5000), interruptible: true, reason: 'idle' };
    }
    this.wasIdle = false;
    const last = rows[rows.length - 1]!;
    if (more) {
      const live = await this.reader.live(Math.max(this.liveCursor, last.seq), now);
      if (live !== null) {
        await this.send(live, false);
        return NOW;
      }
    }
    // A partial batch waits for more rows until its oldest is maxAgeMs old, or was first seen maxAgeMs ago
    // (so rows stamped ahead of this clock wait no longer than that).
    const maxAge = this.o.batch?.maxAgeMs ?? 1000;
    if (this.ageHead?.seq !== rows[0]!.seq) this.ageHead = { seq: rows[0]!.seq, seenAt: now };
    const ageLeft = Math.min(rows[0]!.createdAtMs, this.ageHead.seenAt) + maxAge - now;
    if (!more && !rows.some((r) => r.priority === 0) && ageLeft > 0) {
      return { ms: this.untilDue(now, ageLeft), interruptible: true, reason: 'age' };
    }
    const built = p.built ?? this.reader.ordered(this.cursor, rows, now);
    const paced = this.o.backlogBytesPerSec !== undefined && built.batch.records.some((r) => r.replayed);
    if (paced) {
      const d = this.pacer.delay(now);
      if (d > 0) {
        this.ahead = { cursor: this.cursor, promise: Promise.resolve({ ...p, built }) };
        return { ms: this.untilDue(now, d), interruptible: true, reason: 'pace' };
      }
    }
    if (paced) {
      await this.send(built, true);
      return NOW;
    }
    await this.sendWindow(built, more, now);
    return NOW;
  }

  /**
   * Ordered batches back to back, up to maxInFlight at once; the next is
   * read and encoded while earlier ones are in flight. Stops launching when
   * the backlog ends, a heartbeat or snapshot falls due, or notify() says
   * new rows (perhaps anomalies for the live lane) arrived. A batch that
   * overtook its predecessor on the way (E_SEQ_GAP after an earlier success)
   * is simply sent again by the next step.
   */
  private async sendWindow(first: Built, more: boolean, now: number): Promise<void> {
    const flying: { built: Built; reply: Promise<BatchAck> }[] = [];
    let refused = false; // a reply in flight already failed: launch nothing more
    const launch = (b: Built): void => {
      const reply = this.client.postBatch(b.batch, b.encoded);
      reply.catch(() => {
        refused = true;
      });
      flying.push({ built: b, reply });
    };
    const readAhead = (cursor: number): { cursor: number; promise: Promise<Prepared> } => {
      const promise = this.reader.prepare(cursor, now, true);
      promise.catch(() => undefined);
      return { cursor, promise };
    };
    this.notified = false;
    launch(first);
    let next = more ? readAhead(first.batch.lastSeq) : null;
    let acked = 0;
    while (flying.length > 0) {
      if (next !== null && flying.length < this.maxInFlight && !refused && this.running && !this.notified && !this.somethingDue()) {
        const q = await next.promise;
        next = null;
        if (q.built !== null) {
          launch(q.built);
          if (q.more) next = readAhead(q.built.batch.lastSeq);
        }
        continue;
      }
      const head = flying.shift()!;
      let ack: BatchAck;
      try {
        ack = await head.reply;
      } catch (e) {
        for (const f of flying) await f.reply.catch(() => undefined);
        if (acked > 0 && e instanceof UplinkError && e.wireCode === 'E_SEQ_GAP') return;
        throw e;
      }
      await this.applyAck(head.built, ack, false);
      acked++;
    }
    if (next !== null) this.ahead = next; // used by the next step if the cursor is where it was read from
  }

  private somethingDue(): boolean {
    const now = this.clock.now();
    return ((this.o.heartbeatIntervalMs ?? 60_000) > 0 && now >= this.nextHeartbeatAt) || ((this.o.snapshotIntervalMs ?? 300_000) > 0 && now >= this.nextSnapshotAt);
  }

  private readonly replayed = (r: OutboxRow): boolean => this.stats.consecutiveFailures > 0 || r.createdAtMs < this.replayedBefore;

  private async send(b: Built, paced: boolean): Promise<void> {
    await this.applyAck(b, await this.client.postBatch(b.batch, b.encoded), paced);
  }

  private async applyAck({ batch: b, encoded }: Built, ack: BatchAck, paced: boolean): Promise<void> {
    this.succeeded();
    if (paced) this.pacer.consume(encoded.byteLength, this.clock.now());
    this.gapStreak = 0;
    const s = this.stats;
    s.batches++;
    if (b.lane === 'live') {
      s.liveBatches++;
      this.liveCursor = Math.max(this.liveCursor, b.lastSeq);
    }
    s.records += b.records.length;
    s.wireBytes += encoded.byteLength;
    s.stored += ack.stored;
    s.duplicates += ack.duplicates;
    s.tombstoned += ack.tombstoned;
    await this.acked(ack.contiguousSeq, ack.highestSeq);
    this.emit({ type: 'acked', lane: b.lane, firstSeq: b.firstSeq, lastSeq: b.lastSeq, records: b.records.length, ack, wireBytes: encoded.byteLength });
  }

  /** The cloud holds every seq ≤ contiguous: trim the outbox to there and move the cursor. */
  private async acked(contiguous: number, highest: number): Promise<void> {
    const top = Math.max(contiguous, highest);
    if (top > this.knownIssued) {
      this.knownIssued = (await this.o.store.outboxStats(this.clock.now())).nextSeq - 1;
      if (top > this.knownIssued) {
        throw new UplinkError('E_UPLINK_SEQ_REUSED', `the cloud holds seq ${top} of gateway ${this.client.gatewayId}, but this outbox issued only up to ` +
          `${this.knownIssued}: its seqs were reset (restore from the cloud instead of starting afresh)`);
      }
    }
    if (contiguous > this.stats.contiguousSeq) await this.o.store.ackOutbox(contiguous);
    this.stats.contiguousSeq = Math.max(this.stats.contiguousSeq, contiguous);
    this.cursor = Math.max(this.cursor, contiguous);
  }

  private succeeded(): void {
    if (this.stats.consecutiveFailures > 0) this.replayedBefore = this.clock.now(); // rows queued through the outage are backlog
    this.stats.consecutiveFailures = 0;
    this.backoff.reset();
  }

  private async heartbeat(now: number): Promise<void> {
    const st = await this.o.store.outboxStats(now);
    this.knownIssued = Math.max(this.knownIssued, st.nextSeq - 1);
    const s = this.stats;
    const body = heartbeatBody(this.client.gatewayId, now, st, s, this.o.figures?.().watermarkLagMs ?? null);
    const ack = await this.client.postHeartbeat(body);
    this.succeeded();
    s.heartbeats++;
    if (ack.contiguousSeq < this.cursor) this.rewind(ack.contiguousSeq, 'heartbeat');
    await this.acked(ack.contiguousSeq, ack.highestSeq);
    this.emit({ type: 'heartbeat', contiguousSeq: ack.contiguousSeq, highestSeq: ack.highestSeq });
  }

  private async snapshot(now: number): Promise<void> {
    const snap = await takeSnapshot(this.o.store, this.client.gatewayId, now);
    if (snap === null || snap.checkpointId <= this.lastSnapshotId) return;
    const encoded = encodeSnapshot(snap);
    const ack = await this.client.postSnapshot(encoded);
    this.succeeded();
    this.lastSnapshotId = snap.checkpointId;
    this.stats.snapshots++;
    this.emit({ type: 'snapshot', checkpointId: snap.checkpointId, stored: ack.stored, bytes: encoded.byteLength, stateRows: snap.rows.ns.length });
  }

  /** The cloud is behind this gateway's cursor (a restore, or the cloud lost data): resend from its contiguous seq. */
  private rewind(to: number, why: string): void {
    this.logger.log('warn', 'uplink: the cloud holds less than this gateway sent; resending from its contiguous seq (seqs this outbox no longer has are declared skipped)',
      { gateway: this.client.gatewayId, from: this.cursor, to, why });
    this.stats.gapRewinds++;
    this.cursor = to;
  }

  private failed(e: unknown): Wait {
    const s = this.stats;
    s.failures++;
    s.consecutiveFailures++;
    const ue = e instanceof UplinkError ? e : null;
    s.lastErrorCode = ue?.wireCode ?? ue?.code ?? ((e as { code?: string }).code ?? 'E_UNKNOWN');
    if (ue?.code === 'E_UPLINK_SEQ_REUSED') {
      this.logger.log('error', 'uplink stopped', { code: ue.code, message: ue.message });
      this.running = false;
      this.emit({ type: 'fatal', code: ue.code, message: ue.message });
      return NOW;
    }
    if (ue?.wireCode === 'E_SEQ_GAP' && ue.contiguousSeq !== undefined && this.gapStreak++ < 2) {
      if (ue.contiguousSeq < this.cursor) this.rewind(ue.contiguousSeq, 'E_SEQ_GAP');
      return NOW;
    }
    if (ue?.wireCode === 'E_TOO_LARGE' && this.reader.shrink()) s.batchShrinks++;
    const delayMs = ue?.retryAfterMs ?? this.backoff.next();
    this.logger.log(ue?.transient === false ? 'error' : 'warn', 'uplink: request failed; retrying', {
      code: ue?.code ?? s.lastErrorCode, wireCode: ue?.wireCode, status: ue?.status, message: (e as Error).message, delayMs, failures: s.consecutiveFailures,
    });
    this.emit({ type: 'failed', code: s.lastErrorCode, status: ue?.status ?? null, delayMs, consecutiveFailures: s.consecutiveFailures });
    return { ms: Math.max(1, delayMs), interruptible: false, reason: ue?.retryAfterMs !== undefined ? 'retry-after' : 'backoff' };
  }
}
