/**
 * A deterministic device stand-in for the switchover tests: publishes a
 * fixed list of messages (readings with event times from a recording) into
 * the gateway's broker, in order, over one MQTT connection at QoS 1, with
 * at most `window` messages awaiting their PUBACK.
 *
 * It keeps the device contract the gateway relies on: a message counts as
 * delivered only when its PUBACK arrived (the gateway acks after the
 * reading is durable); when the connection drops (the gateway was killed),
 * every message not acknowledged goes back to the front of the queue, in
 * order, and is sent again on the next connection. So each message is
 * sent at least once, and it records how many times (`sends`): an
 * unacknowledged message may already be in the gateway's log, and sending
 * it again is exactly MQTT QoS 1's at-least-once.
 *
 * It reconnects on its own (every `retryMs`) while the broker is down, and
 * remembers when each connection was made and when the first PUBACK after
 * it came (recovery time, for the bench).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { jsonCodec } from '../../devices/index.ts';

export interface PublishedReading {
  readonly deviceId: string;
  readonly metric: string;
  readonly value: number;
  /** Event time, ms since the epoch. */
  readonly ts: number;
}

/** One MQTT message: the readings of one device at one instant (env-sensor flat JSON, `ts` field). */
export interface OutMessage {
  readonly deviceId: string;
  readonly ts: number;
  readonly readings: readonly PublishedReading[];
}

export interface PublisherEvent {
  readonly type: 'connected' | 'disconnected' | 'acked' | 'done';
  readonly at: number;
  readonly index?: number;
}

/** Consecutive readings of one device with one event time become one message, as the device sent them. */
export function toMessages(readings: readonly PublishedReading[]): OutMessage[] {
  const out: { deviceId: string; ts: number; readings: PublishedReading[] }[] = [];
  for (const r of readings) {
    const last = out[out.length - 1];
    if (last !== undefined && last.deviceId === r.deviceId && last.ts === r.ts && !last.readings.some((x) => x.metric === r.metric)) last.readings.push(r);
    else out.push({ deviceId: r.deviceId, ts: r.ts, readings: [r] });
  }
  return out;
}

export function encodeMessage(m: OutMessage): Buffer {
  return Buffer.from(jsonCodec.encode(m.readings.map((r) => ({ metric: r.metric, value: r.value, eventTime: r.ts })), { deviceId: m.deviceId, timeField: 'ts' }));
}

export class ReadingPublisher {
  /** Times each message was handed to a connection. */
  readonly sends: Uint16Array;
  readonly acked: Uint8Array;
  /** Wall-clock ms of each message's first send and of its PUBACK (0: not yet). */
  readonly firstSentAt: Float64Array;
  readonly ackedAt: Float64Array;
  ackedCount = 0;
  connects = 0;
  /** Per connection: when CONNACK came and when the first PUBACK on it came. */
  readonly connections: { connectedAt: number; firstAckAt: number | null }[] = [];
  private client: MqttClient | null = null;
  private generation = 0;
  /** Sorted indexes of messages to (re)send before `next`. */
  private redo: number[] = [];
  private next = 0;
  /** Messages may be sent up to (not including) this index; `publishUpTo` moves it. */
  private limit: number;
  private readonly inFlight = new Set<number>();
  private readonly listeners = new Set<(e: PublisherEvent) => void>();
  private stopped = false;
  private retry: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly url: string,
    readonly messages: readonly OutMessage[],
    private readonly o: { window?: number; retryMs?: number; clientId?: string; limit?: number } = {},
  ) {
    this.sends = new Uint16Array(messages.length);
    this.acked = new Uint8Array(messages.length);
    this.firstSentAt = new Float64Array(messages.length);
    this.ackedAt = new Float64Array(messages.length);
    this.limit = Math.min(o.limit ?? messages.length, messages.length);
  }

  get done(): boolean {
    return this.ackedCount === this.messages.length;
  }

  /** Messages sent more than once (the ones a crash left unacknowledged). */
  get resent(): number {
    let n = 0;
    for (const s of this.sends) if (s > 1) n++;
    return n;
  }

  get connected(): boolean {
    return this.client !== null && this.client.connected;
  }

  onEvent(fn: (e: PublisherEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: PublisherEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  /** Resolves when `pred` holds (checked now and after every event); rejects after `timeoutMs`. */
  until(pred: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`publisher: timed out after ${timeoutMs} ms waiting for ${what} (acked ${this.ackedCount}/${this.messages.length}, connected ${this.connected})`));
      }, timeoutMs);
      const off = this.onEvent(() => {
        if (!pred()) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  start(): void {
    this.connect();
  }

  /** Lets messages [0, n) be sent (for phased publishing). */
  publishUpTo(n: number): void {
    this.limit = Math.min(n, this.messages.length);
    this.pump();
  }

  private connect(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const c = mqtt.connect(this.url, {
      clientId: this.o.clientId ?? 'switchover-publisher',
      clean: true,
      reconnectPeriod: 0, // reconnects are ours: the queue decides what is re-sent
      connectTimeout: 2000,
      keepalive: 10,
      protocolVersion: 4,
    });
    this.client = c;
    c.on('error', () => undefined); // 'close' follows
    c.on('connect', () => {
      if (gen !== this.generation) return;
      this.connects++;
      this.connections.push({ connectedAt: Date.now(), firstAckAt: null });
      this.emit({ type: 'connected', at: Date.now() });
      this.pump();
    });
    c.once('close', () => {
      if (gen !== this.generation) return;
      // Everything not acknowledged on this connection goes back, in order, to be sent again.
      this.redo = [...new Set([...this.redo, ...this.inFlight])].sort((a, b) => a - b);
      this.inFlight.clear();
      this.client = null;
      c.end(true);
      this.emit({ type: 'disconnected', at: Date.now() });
      if (!this.stopped) this.retry = setTimeout(() => this.connect(), this.o.retryMs ?? 50);
    });
  }

  private take(): number | null {
    if (this.redo.length > 0) return this.redo.shift()!;
    if (this.next < this.limit) return this.next++;
    return null;
  }

  private pump(): void {
    const c = this.client;
    const gen = this.generation;
    if (c === null || !c.connected) return;
    const window = this.o.window ?? 32;
    while (this.inFlight.size < window) {
      const i = this.take();
      if (i === null) return;
      const m = this.messages[i]!;
      this.inFlight.add(i);
      this.sends[i]!++;
      if (this.firstSentAt[i] === 0) this.firstSentAt[i] = Date.now();
      c.publish(`weir/${m.deviceId}/telemetry`, encodeMessage(m), { qos: 1 }, (err) => {
        if (gen !== this.generation || err) return; // that connection is gone: the close handler re-queued it
        if (!this.inFlight.delete(i)) return;
        if (this.acked[i] === 0) {
          this.acked[i] = 1;
          this.ackedCount++;
          this.ackedAt[i] = Date.now();
        }
        const conn = this.connections[this.connections.length - 1];
        if (conn !== undefined && conn.firstAckAt === null) conn.firstAckAt = Date.now();
        this.emit({ type: 'acked', at: Date.now(), index: i });
        if (this.done) this.emit({ type: 'done', at: Date.now() });
        this.pump();
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== null) clearTimeout(this.retry);
    const c = this.client;
    this.client = null;
    this.generation++;
    if (c !== null) await c.endAsync(true).catch(() => undefined);
  }
}
