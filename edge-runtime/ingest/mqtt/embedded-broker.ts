/**
 * The gateway's own MQTT broker (aedes 1.x): devices connect to it directly
 * over TCP, TLS or WebSocket with MQTT 3.1 or 3.1.1 at QoS 0, 1 or 2. aedes
 * 1.x does not speak MQTT 5: a v5 device gets a v5 CONNACK with reason 132
 * (0x84, "Unsupported Protocol Version") and the connection is closed; v5
 * devices go through a broker that speaks v5 and external-broker mode.
 *
 * Every PUBLISH is a RawFrame for the shared Ingestor, handed over in aedes'
 * `authorizePublish` hook, which runs before aedes writes PUBACK/PUBREC: the
 * hook calls back only once the Ingestor settled the frame, i.e. the reading
 * (or its quarantine record) is durable ([MQTT-4.3.2-2]: the receiver owns
 * the message once it sent PUBACK). aedes parses a socket read in one go, so
 * its frames reach the Ingestor as one batch (see ingest-flow.ts). See ingest-flow.ts for backpressure and
 * topic-acl.ts for what devices may publish and subscribe to.
 *
 * aedes does not route a device's telemetry after the hook (no subscriber
 * can match it: see skipTelemetryRouting); `npm run bench:ingest` measures
 * the rest against a bare aedes as the raw ceiling.
 */
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import type { AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import { silentLogger, type Logger } from '../../log.ts';
import type { IngestOutcome, RawFrame } from '../ingestor.ts';
import { BrokerListeners, type BoundPorts, type ListenerKind, type ListenOptions } from './broker-listeners.ts';
import type { AuthCounters, AuthFailure, DeviceAuthenticator } from './device-authenticator.ts';
import { IngestFlow, type ConnectionFlow, type FlowCounters, type FlowLimits, type IngestSink } from './ingest-flow.ts';
import { LogLimiter } from './log-limiter.ts';
import { MqttIngestError } from './mqtt-errors.ts';
import { PacketSizeGuard } from './packet-size-guard.ts';
import './packet-numbers.ts';
import { TopicAcl } from './topic-acl.ts';

export interface EmbeddedBrokerOptions extends FlowLimits {
  readonly ingestor: IngestSink;
  /**
   * Device authentication, or 'anonymous': no credentials are asked and the
   * topic alone names the device (development, benchmarks; never on a network
   * devices you do not control can reach).
   */
  readonly auth: DeviceAuthenticator | 'anonymous';
  readonly logger?: Logger;
  /** Largest MQTT packet accepted (default 256 KiB); a larger one closes the connection. Payloads above the Ingestor's limit but below this are quarantined (E_DECODE_SIZE). */
  readonly maxPacketBytes?: number;
  /** Connections at once (default 20,000); more are closed at once and counted. */
  readonly maxConnections?: number;
  /** A connection that sends no CONNECT within this is closed (default 10,000 ms). */
  readonly connectTimeoutMs?: number;
  /** Command topic template devices may subscribe to (default `weir/{deviceId}/commands`). */
  readonly commandTopic?: string;
  /** Called with every frame's outcome once durable (metrics, tests, benchmarks). */
  readonly onOutcome?: (frame: RawFrame, outcome: IngestOutcome) => void;
}

export interface BrokerCounters {
  connectionsNow: number;
  connectionsTotal: number;
  connectionsRefused: number;
  /** CONNECTs with protocol level 5, refused (CONNACK 0x01). */
  v5Refused: number;
  tlsErrors: number;
  wsErrors: number;
  /** Connections closed for a packet over maxPacketBytes, or for a malformed length. */
  oversizedPackets: number;
  malformedPackets: number;
  /** Errors aedes reported on a connection (protocol violations, timeouts, resets). */
  clientErrors: number;
  subscriptionsGranted: number;
  subscriptionsDenied: number;
  /** Publishes to `$` or command topics: quarantined, then the connection is closed. */
  forbiddenPublishes: number;
  willsIgnored: number;
  retainIgnored: number;
  /** QoS 2 retransmissions of a message already made durable (not ingested twice). */
  qos2Duplicates: number;
  commandsPublished: number;
  /** Device publishes that aedes did not route, having no possible subscriber (see skipTelemetryRouting). */
  routingSkipped: number;
}

export interface BrokerMetrics {
  readonly broker: BrokerCounters;
  readonly auth: AuthCounters | null;
  readonly flow: FlowCounters;
}

interface ConnState {
  readonly cf: ConnectionFlow;
  readonly kind: ListenerKind;
  deviceId: string | null;
  authFailed: boolean;
}

/** The part of an aedes Client that pauses reading (present in aedes 1.x, not in its typings). */
interface PausableClient {
  pause?: () => void;
  resume?: () => void;
}

/** aedes' persistence, as far as QoS 2 duplicate detection needs it (the aedes-persistence interface). */
interface IncomingStore {
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
}

const V5_UNSUPPORTED_CONNACK = Buffer.from([0x20, 0x03, 0x00, 0x84, 0x00]);

const RETURN_CODE: Record<AuthFailure, 2 | 3 | 4 | 5> = {
  'missing-credentials': 5, // not authorized
  'unknown-device': 4, // bad user name or password
  'bad-secret': 4,
  'client-id-mismatch': 2, // identifier rejected
  busy: 3, // server unavailable
};

export class EmbeddedBroker {
  readonly counters: BrokerCounters = {
    connectionsNow: 0, connectionsTotal: 0, connectionsRefused: 0, v5Refused: 0, tlsErrors: 0, wsErrors: 0,
    oversizedPackets: 0, malformedPackets: 0, clientErrors: 0, subscriptionsGranted: 0, subscriptionsDenied: 0, forbiddenPublishes: 0,
    willsIgnored: 0, retainIgnored: 0, qos2Duplicates: 0, commandsPublished: 0, routingSkipped: 0,
  };
  readonly flow: IngestFlow;
  readonly acl: TopicAcl;
  private readonly logger: Logger;
  private readonly limited: LogLimiter;
  private readonly maxPacket: number;
  private readonly maxConnections: number;
  private readonly states = new WeakMap<Client, ConnState>();
  private readonly conns = new Set<Duplex>();
  private broker: Aedes | null = null;
  private listeners: BrokerListeners | null = null;
  private closing = false;
  private warnedNoPause = false;

  constructor(private readonly opts: EmbeddedBrokerOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.limited = new LogLimiter(this.logger);
    this.maxPacket = opts.maxPacketBytes ?? 256 * 1024;
    this.maxConnections = opts.maxConnections ?? 20_000;
    this.acl = new TopicAcl(opts.commandTopic);
    this.flow = new IngestFlow(opts.ingestor, opts, opts.onOutcome);
  }

  /** Starts aedes and the listeners; resolves with the bound ports. */
  async start(listen: ListenOptions = {}): Promise<BoundPorts> {
    if (this.broker !== null || this.closing) throw new MqttIngestError('E_MQTT_CONFIG', 'broker already started');
    const broker = await Aedes.createBroker({
      connectTimeout: this.opts.connectTimeoutMs ?? 10_000,
      preConnect: (client, packet, cb) => this.preConnect(client, packet, cb),
      authenticate: (client, username, password, cb) => this.authenticate(client, username, password, cb),
      authorizePublish: (client, packet, cb) => this.authorizePublish(client, packet, cb),
      authorizeSubscribe: (client, sub, cb) => this.authorizeSubscribe(client, sub, cb),
    });
    this.broker = broker;
    this.skipTelemetryRouting(broker);
    // aedes emits 'error' for persistence failures; unhandled, that would end the process.
    (broker as unknown as NodeJS.EventEmitter).on('error', (e: Error) => this.logger.log('error', 'mqtt broker error', { error: e.message }));
    broker.on('clientError', (client: Client, e: Error) => this.onClientError(client, e));
    broker.on('connectionError', (client: Client, e: Error) => this.onClientError(client, e));
    const { listeners, ports } = await BrokerListeners.open(listen, this.maxPacket + 1024, {
      accept: (conn, req, kind) => this.accept(conn, req, kind),
      tlsError: (e) => {
        this.counters.tlsErrors++;
        this.limited.log('info', 'mqtt tls handshake failed', { error: e.message });
      },
      wsError: (e) => {
        this.counters.wsErrors++;
        this.limited.log('info', 'mqtt websocket error', { error: e.message });
      },
    }).catch(async (e: unknown) => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      this.broker = null;
      throw e;
    });
    this.listeners = listeners;
    this.logger.log('info', 'mqtt broker listening', { host: listen.host ?? '127.0.0.1', ...ports, auth: this.opts.auth === 'anonymous' ? 'anonymous' : 'credentials' });
    return ports;
  }

  /**
   * A device's telemetry PUBLISH is done once the Ingestor has it (authorizePublish): aedes would
   * still route each one (a Packet copy, its topic split and matched, the `publish` event) to find
   * that nothing can match it — no client may subscribe to device topics (topic-acl.ts) and the
   * gateway subscribes to none in-process. So publishes from a client to a topic the ACL calls
   * 'ingest' end here; `$` topics, commands (publishCommand: no client) and everything else are routed.
   */
  private skipTelemetryRouting(broker: Aedes): void {
    const b = broker as unknown as { publish(packet: PublishPacket, client: unknown, done?: (e?: Error | null) => void): void };
    const route = b.publish.bind(broker);
    b.publish = (packet, client, done) => {
      if (client !== null && typeof client === 'object' && this.acl.publish(packet.topic) === 'ingest') {
        this.counters.routingSkipped++;
        done?.(null);
        return;
      }
      route(packet, client, done);
    };
  }

  metrics(): BrokerMetrics {
    return {
      broker: { ...this.counters },
      auth: this.opts.auth === 'anonymous' ? null : structuredClone(this.opts.auth.counters),
      flow: { ...this.flow.counters, pausedMs: Math.round(this.flow.pausedMsNow()) },
    };
  }

  /** Sends a command to a device's command topic (the only thing the broker forwards). */
  publishCommand(deviceId: string, payload: Uint8Array | string, qos: 0 | 1 | 2 = 1): Promise<void> {
    const broker = this.broker;
    if (broker === null || this.closing) return Promise.reject(new MqttIngestError('E_MQTT_CLOSED', 'broker is not running'));
    const packet: PublishPacket = {
      cmd: 'publish', topic: this.acl.commandTopic(deviceId), payload: typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload),
      qos, retain: false, dup: false,
    };
    this.counters.commandsPublished++;
    return new Promise((resolve, reject) => broker.publish(packet, (e) => (e ? reject(e) : resolve())));
  }

  /**
   * Stops accepting, closes every connection, stops aedes, then waits up to
   * `waitMs` (default 10 s) for frames already submitted to settle.
   */
  async close(waitMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const listenersClosed = this.listeners?.close() ?? Promise.resolve();
    // In slices: aedes 1.2 overflows its stack when thousands of clients close in one tick.
    const all = [...this.conns];
    for (let i = 0; i < all.length; i += 256) {
      for (const c of all.slice(i, i + 256)) c.destroy();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await listenersClosed;
    const broker = this.broker;
    if (broker !== null) await new Promise<void>((resolve) => broker.close(() => resolve()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      this.flow.idle().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), waitMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.logger.log('warn', 'mqtt broker closed with frames still waiting for durability', { frames: this.flow.counters.inFlight });
    this.logger.log('info', 'mqtt broker closed', {});
  }

  private accept(conn: Duplex, req: IncomingMessage | undefined, kind: ListenerKind): void {
    const broker = this.broker;
    if (broker === null || this.closing || this.counters.connectionsNow >= this.maxConnections) {
      if (!this.closing) this.counters.connectionsRefused++;
      conn.destroy();
      return;
    }
    this.counters.connectionsNow++;
    this.counters.connectionsTotal++;
    this.conns.add(conn);
    if (conn instanceof Socket) conn.setNoDelay(true);
    const client = broker.handle(conn, req);
    const pausable = client as unknown as PausableClient;
    if (typeof pausable.pause !== 'function' && !this.warnedNoPause) {
      this.warnedNoPause = true;
      this.logger.log('warn', 'this aedes cannot pause a connection: backpressure withholds acks only', {});
    }
    const st: ConnState = {
      cf: this.flow.open({ pause: () => pausable.pause?.(), resume: () => pausable.resume?.() }),
      kind,
      deviceId: null,
      authFailed: false,
    };
    this.states.set(client, st);
    // aedes reads with 'readable' + read(); a 'data' listener added after it sees each chunk as read()
    // returns it, without switching the stream to flowing mode (the 'readable' listener keeps control).
    const guard = new PacketSizeGuard(this.maxPacket);
    conn.on('data', (chunk: Buffer) => {
      const v = guard.push(chunk);
      if (v === 'ok') return;
      if (v === 'too-large') this.counters.oversizedPackets++;
      else this.counters.malformedPackets++;
      this.limited.log('warn', 'mqtt connection closed: packet too large or malformed', { verdict: v, limit: this.maxPacket, clientId: client.id, kind });
      conn.destroy();
    });
    conn.once('close', () => {
      this.counters.connectionsNow--;
      this.conns.delete(conn);
      this.flow.close(st.cf);
    });
  }

  private preConnect(client: Client, packet: ConnectPacket, cb: (e: Error | null, ok: boolean) => void): void {
    if (packet.protocolVersion === 5) {
      // aedes would answer in 3.1.1 form (return code 1). A v5 client understands a v5 CONNACK with
      // reason 0x84 "Unsupported Protocol Version" (MQTT 5 §3.2.2.2), then the connection closes
      // [MQTT-3.2.2-7]. Bytes: CONNACK, remaining length 3, no session, 0x84, no properties.
      this.counters.v5Refused++;
      this.limited.log('info', 'mqtt 5 device refused: connect it through a v5 broker and external-broker mode', { clientId: String(packet.clientId).slice(0, 128) });
      const conn = client.conn;
      conn.once('finish', () => conn.destroy());
      conn.end(V5_UNSUPPORTED_CONNACK);
      return cb(null, false);
    }
    if (packet.will !== undefined && packet.will !== null) {
      // No one may subscribe to device topics, so a will could only become a reading stamped at disconnect time.
      this.counters.willsIgnored++;
      packet.will = undefined;
    }
    cb(null, true);
  }

  private authenticate(
    client: Client, username: string | undefined, password: Buffer | undefined,
    done: (e: AuthenticateError | null, ok: boolean | null) => void,
  ): void {
    const st = this.states.get(client);
    const auth = this.opts.auth;
    if (st === undefined) return done(refusal(3, 'server unavailable'), false);
    if (auth === 'anonymous') return done(null, true);
    auth.authenticate({ username, password, clientId: client.id }).then(
      (r) => {
        if (r.ok) {
          st.deviceId = r.deviceId;
          return done(null, true);
        }
        st.authFailed = true;
        // The username is not secret (it is the device id); the password is never logged.
        this.limited.log('warn', 'mqtt device refused', { reason: r.reason, username: String(username).slice(0, 128), kind: st.kind });
        const code = RETURN_CODE[r.reason];
        done(refusal(code, code === 4 ? 'bad user name or password' : code === 5 ? 'not authorized' : code === 2 ? 'identifier rejected' : 'server unavailable'), false);
      },
      (e: unknown) => {
        st.authFailed = true;
        this.logger.log('error', 'mqtt authentication failed unexpectedly', { error: (e as Error).message });
        done(refusal(3, 'server unavailable'), false);
      },
    );
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, cb: (e?: Error | null) => void): void {
    const st = client === null ? undefined : this.states.get(client);
    if (client === null || st === undefined) return cb(new Error('publish without a connection'));
    const verdict = this.acl.publish(packet.topic);
    if (packet.retain) {
      this.counters.retainIgnored++; // retained device messages would pile up in broker memory, one per topic
      packet.retain = false;
    }
    const frame: RawFrame = {
      transport: 'mqtt',
      topicOrUri: packet.topic,
      deviceId: st.deviceId,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      arrivalTime: this.flow.now(),
    };
    if (verdict !== 'ingest') {
      // Recorded in quarantine (not dropped silently), then the connection is closed: neither may reach routing.
      this.counters.forbiddenPublishes++;
      this.limited.log('warn', 'mqtt publish to a forbidden topic: connection closed', { verdict, topic: packet.topic.slice(0, 256), deviceId: st.deviceId });
      this.flow.submit(st.cf, frame, { onDurable: () => cb(new Error(`publishing to ${verdict} topics is not allowed`)) });
      return;
    }
    if (packet.qos === 0) {
      this.flow.submit(st.cf, frame, { onAccepted: () => cb(null) });
      return;
    }
    if (packet.qos === 2 && packet.dup) {
      // A retransmission whose PUBREC was lost: if aedes still holds it, it is already durable. [MQTT-4.3.3-2]
      const store = (this.broker as unknown as { persistence?: Partial<IncomingStore> } | null)?.persistence;
      if (store?.incomingGetPacket !== undefined) {
        store.incomingGetPacket(client, packet).then(() => {
          this.counters.qos2Duplicates++;
          cb(null);
        }, () => this.ingestAcked(client, st, frame, cb));
        return;
      }
    }
    this.ingestAcked(client, st, frame, cb);
  }

  /** QoS 1/2: aedes writes PUBACK/PUBREC when `cb` runs, so it runs once the frame is durable. */
  private ingestAcked(client: Client, st: ConnState, frame: RawFrame, cb: (e?: Error | null) => void): void {
    this.flow.submit(st.cf, frame, {
      onDurable: (e) => {
        if (client.closed) return;
        if (e !== null) this.limited.log('error', 'mqtt frame not durable: connection closed without ack', { error: e.message, deviceId: st.deviceId });
        cb(e);
      },
    });
  }

  private authorizeSubscribe(client: Client, sub: Subscription, cb: (e: Error | null, s?: Subscription | null) => void): void {
    const st = this.states.get(client);
    if (st !== undefined && this.acl.subscribe(st.deviceId, sub.topic)) {
      this.counters.subscriptionsGranted++;
      return cb(null, sub);
    }
    this.counters.subscriptionsDenied++;
    this.limited.log('info', 'mqtt subscription refused', { topic: sub.topic.slice(0, 256), deviceId: st?.deviceId ?? null });
    cb(null, null); // SUBACK 0x80 for this filter [MQTT-3.9.3]
  }

  private onClientError(client: Client, e: Error): void {
    const st = this.states.get(client);
    if (st?.authFailed === true) return; // counted as an auth failure already
    this.counters.clientErrors++;
    this.limited.log('debug', 'mqtt connection error', { clientId: client.id ?? null, error: e.message });
  }
}

function refusal(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}
