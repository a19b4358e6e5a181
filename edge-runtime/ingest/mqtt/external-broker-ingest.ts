/**
 * External-broker mode: the gateway is an MQTT 3.1.1 or 5 client (mqtt.js)
 * of a broker that already exists (Mosquitto, EMQX, a cloud broker), for
 * sites that have one and for MQTT 5 devices.
 *
 * - Persistent session: a fixed client id, clean session off (3.1.1) / clean
 *   start off with a session expiry (5), subscriptions at QoS 1, so what is
 *   published while the gateway is down is queued by the broker and arrives
 *   after a restart (up to the broker's queue limit: Mosquitto's
 *   `max_queued_messages` is 1,000 per client by default).
 * - A QoS 1 message is acknowledged only after the Ingestor settled it (durable).
 *   mqtt.js handles messages one at a time and sends PUBACK when
 *   `handleMessage`'s callback runs, so holding that callback until durable
 *   would allow one message per group commit. Instead the callback is
 *   released at once with a marker that makes mqtt.js skip its PUBACK, and
 *   the PUBACK (4 bytes: 0x40 0x02 id; valid in 3.1.1 and, with reason 0 and
 *   no properties, in 5 [MQTT-3.4.2.1]) is written on the same connection
 *   once durable, in arrival order ([MQTT-4.6.0-2]). If the connection
 *   changed meanwhile, nothing is sent: the broker redelivers on the resumed
 *   session. So the path is at-least-once; a reading can be logged twice
 *   when a PUBACK is lost to a reconnect.
 * - Backpressure: holding the callback stops mqtt.js reading the socket;
 *   in-flight QoS 1 is bounded by the broker (Mosquitto: 20 for 3.1.1,
 *   `max_inflight_messages`; for 5, our Receive Maximum).
 * - QoS 2 is never granted (subscriptions are QoS 1): mqtt.js sends PUBREC
 *   before the application sees a QoS 2 message and keeps it only in memory.
 */
import mqtt from 'mqtt';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Duplex } from 'node:stream';
import { topicFilter, type DeviceProfile } from '../../../devices/index.ts';
import { silentLogger, type Logger } from '../../log.ts';
import type { IngestOutcome, RawFrame } from '../ingestor.ts';
import { IngestFlow, type ConnectionFlow, type FlowCounters, type FlowLimits, type IngestSink } from './ingest-flow.ts';
import { LogLimiter } from './log-limiter.ts';
import { MqttIngestError } from './mqtt-errors.ts';
import './packet-numbers.ts';

export interface ExternalBrokerOptions extends FlowLimits {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the broker. Credentials in it are never logged. */
  readonly url: string;
  /** Fixed client id: the broker keeps the session (subscriptions, queued messages) under it. */
  readonly clientId: string;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  readonly protocolVersion?: 4 | 5;
  readonly username?: string;
  /** Never logged. */
  readonly password?: string | Buffer;
  readonly ingestor: IngestSink;
  /** Subscribed: the topic filter of every MQTT profile (`weir/+/telemetry`). */
  readonly profiles: readonly DeviceProfile[];
  /** MQTT 5: how long the broker keeps the session while we are away (default 7 days). */
  readonly sessionExpirySec?: number;
  /** MQTT 5: QoS 1 messages the broker may have in flight to us (default 1,000). */
  readonly receiveMaximum?: number;
  readonly keepaliveSec?: number;
  readonly reconnectPeriodMs?: number;
  readonly connectTimeoutMs?: number;
  /** TLS for mqtts:// and wss://. */
  readonly tls?: { readonly ca?: string | Buffer; readonly cert?: string | Buffer; readonly key?: string | Buffer; readonly rejectUnauthorized?: boolean };
  readonly logger?: Logger;
  readonly onOutcome?: (frame: RawFrame, outcome: IngestOutcome) => void;
}

export interface ExternalCounters {
  connects: number;
  /** CONNACKs that said the broker still had our session. */
  sessionsResumed: number;
  closes: number;
  refusals: number;
  subscribeFailures: number;
  /** Durable acks that could not be sent because the connection had changed (the broker redelivers). */
  acksLost: number;
  /** Messages that arrived while closing: not ingested, not acknowledged (the broker keeps them). */
  leftForNextSession: number;
}

/** Handed to handleMessage's callback: mqtt.js then skips its own PUBACK (we send it when durable). */
class AckDeferred extends Error {
  constructor() {
    super('ack deferred until durable');
    this.name = 'AckDeferred';
  }
}
const DEFERRED = new AckDeferred();

/** Refusals that retrying cannot fix: bad credentials, not authorized, banned, bad client id. */
const FATAL_CONNACK = new Set([2, 4, 5, 133, 134, 135, 138, 140]);

export class ExternalBrokerIngest {
  readonly counters: ExternalCounters = { connects: 0, sessionsResumed: 0, closes: 0, refusals: 0, subscribeFailures: 0, acksLost: 0, leftForNextSession: 0 };
  readonly flow: IngestFlow;
  private readonly logger: Logger;
  private readonly limited: LogLimiter;
  private readonly filters: string[];
  private client: MqttClient | null = null;
  private cf: ConnectionFlow | null = null;
  private closing = false;

  constructor(private readonly opts: ExternalBrokerOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.limited = new LogLimiter(this.logger);
    this.flow = new IngestFlow(opts.ingestor, opts, opts.onOutcome);
    this.filters = [...new Set(opts.profiles.flatMap((p) => (p.transport.kind === 'mqtt' ? [topicFilter(p.transport.topic)] : [])))];
    if (this.filters.length === 0) throw new MqttIngestError('E_MQTT_CONFIG', 'external-broker mode needs at least one MQTT device profile');
    if (opts.clientId === '') throw new MqttIngestError('E_MQTT_CONFIG', 'external-broker mode needs a fixed client id (the persistent session is keyed by it)');
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /**
   * Connects and subscribes; resolves once the first session is set up.
   * Rejects (and stops) if the broker refuses us for good (credentials,
   * authorization, client id) or refuses a subscription. While the broker
   * is unreachable it keeps retrying and the promise stays pending: a
   * gateway need not wait for it (offline is normal).
   */
  start(): Promise<void> {
    if (this.client !== null || this.closing) return Promise.reject(new MqttIngestError('E_MQTT_CONFIG', 'already started'));
    const o = this.opts;
    const v5 = o.protocolVersion === 5;
    const options: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: v5 ? 5 : 4,
      clean: false,
      keepalive: o.keepaliveSec ?? 30,
      reconnectPeriod: o.reconnectPeriodMs ?? 1000,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      resubscribe: false,
      queueQoSZero: false,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(v5 ? { properties: { sessionExpiryInterval: o.sessionExpirySec ?? 7 * 86_400, receiveMaximum: o.receiveMaximum ?? 1000 } } : {}),
      ...(o.tls ?? {}),
    };
    const client = mqtt.connect(o.url, options);
    this.client = client;
    client.handleMessage = (packet, done) => this.onPublish(client, packet, done);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: MqttIngestError): void => {
        if (settled) return;
        settled = true;
        client.end(true);
        reject(e);
      };
      client.on('connect', (connack) => {
        this.counters.connects++;
        this.cf = this.flow.open({ pause: () => {}, resume: () => {} }); // holding handleMessage's callback is the pause
        if (connack.sessionPresent) this.counters.sessionsResumed++;
        this.logger.log('info', 'mqtt external broker connected', { broker: redact(o.url), clientId: o.clientId, protocolVersion: v5 ? 5 : 4, sessionPresent: connack.sessionPresent });
        if (connack.sessionPresent && settled) return; // the broker still holds our subscriptions
        client.subscribe(this.filters, { qos: 1 }, (err, granted) => {
          const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
          if (err || refused.length > 0) {
            this.counters.subscribeFailures++;
            this.logger.log('error', 'mqtt external broker refused a subscription', { filters: refused, error: err?.message });
            fail(new MqttIngestError('E_MQTT_SUBSCRIBE', `the broker refused ${refused.join(', ') || 'the subscription'}`, { cause: err ?? undefined }));
            return;
          }
          if (!settled) {
            settled = true;
            resolve();
          }
        });
      });
      client.on('close', () => {
        this.counters.closes++;
        if (this.cf !== null) this.flow.close(this.cf);
        this.cf = null;
        if (!this.closing) this.limited.log('warn', 'mqtt external broker connection lost; reconnecting', { broker: redact(o.url) });
      });
      client.on('error', (e: Error & { code?: unknown }) => {
        const code = typeof e.code === 'number' ? e.code : null;
        if (code !== null) {
          this.counters.refusals++;
          this.logger.log('error', 'mqtt external broker refused the connection', { broker: redact(o.url), reasonCode: code });
          if (FATAL_CONNACK.has(code)) fail(new MqttIngestError('E_MQTT_CONNECT', `the broker refused the connection (reason ${code})`, { cause: e }));
        } else {
          this.limited.log('warn', 'mqtt external broker error', { broker: redact(o.url), error: e.message });
        }
      });
    });
  }

  private onPublish(client: MqttClient, packet: IPublishPacket, done: (e?: Error) => void): void {
    const cf = this.cf;
    if (this.closing || cf === null) {
      // Not ingested and not acknowledged: the broker keeps it for the next session. The callback is
      // held, which stops this connection's processing; it is being closed.
      this.counters.leftForNextSession++;
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const frame: RawFrame = { transport: 'mqtt', topicOrUri: packet.topic, deviceId: null, payload, arrivalTime: this.flow.now() };
    if (packet.qos === 0) {
      this.flow.submit(cf, frame, { onAccepted: () => done() });
      return;
    }
    if (packet.qos === 2) {
      // Only if a broker ignores the granted QoS: ack (PUBCOMP) once durable, one at a time.
      this.flow.submit(cf, frame, { onDurable: (e) => (e === null ? done() : client.stream.destroy()) });
      return;
    }
    const stream = client.stream;
    const id = packet.messageId ?? 0;
    this.flow.submit(cf, frame, {
      onAccepted: () => done(DEFERRED),
      onDurable: (e) => this.ack(client, stream, id, e),
    });
  }

  private ack(client: MqttClient, stream: Duplex, messageId: number, e: Error | null): void {
    if (client.stream !== stream || stream.destroyed || !client.connected) {
      this.counters.acksLost++;
      return;
    }
    if (e !== null) {
      // Not durable: no PUBACK. Drop the connection so the broker redelivers on the resumed session.
      this.limited.log('error', 'mqtt frame not durable: reconnecting for redelivery', { error: e.message });
      stream.destroy();
      return;
    }
    stream.write(Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]));
  }

  metrics(): { external: ExternalCounters; flow: FlowCounters } {
    return { external: { ...this.counters }, flow: { ...this.flow.counters, pausedMs: Math.round(this.flow.pausedMsNow()) } };
  }

  /**
   * Stops ingesting, waits up to `waitMs` (default 10 s) for submitted frames
   * to be durable and their PUBACKs written, then disconnects. The session
   * stays at the broker, which queues what arrives until we are back.
   */
  async close(waitMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const client = this.client;
    if (client === null) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.flow.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    this.logger.log('info', 'mqtt external broker disconnected', { broker: redact(this.opts.url) });
  }
}

/** The URL without user:password. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}
