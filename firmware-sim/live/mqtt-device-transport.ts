/**
 * Live MQTT, the way firmware does it: one mqtt.js client per device, client
 * id = device id, MQTT 3.1.1 over TCP, QoS 0 or 1 from the profile (or an
 * override). The engine decides when the link drops and when to retry
 * (its own backoff), so mqtt.js's automatic reconnect is off
 * (`reconnectPeriod: 0`). A QoS 1 publish whose PUBACK never came (the link
 * dropped first) goes back to the device's buffer and is replayed after the
 * reconnect: at-least-once, as firmware does it. QoS 0 in flight is lost.
 */
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { renderTopic } from '../../devices/index.ts';
import type { FleetTransport, OutMessage } from '../core/fleet-engine.ts';
import type { SimDevice } from '../core/sim-device.ts';
import { resolveIdentity, resolveSecret } from './credentials.ts';
import { TransportStats, publishCounted } from './transport-stats.ts';

export interface MqttDeviceTransportOptions {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883. */
  readonly url: string;
  /** Overrides every profile's QoS. */
  readonly qos?: 0 | 1;
  readonly keepaliveS?: number;
  readonly connectTimeoutMs?: number;
  /** Called when a client loses its connection without the engine asking (broker gone, socket error). */
  readonly onLinkLost: (deviceId: string) => void;
  /** Called with a QoS 1 message that was not acknowledged before its link dropped. */
  readonly onUnacked: (deviceId: string, msg: OutMessage) => void;
}

interface DeviceLink {
  readonly client: MqttClient;
  done: ((ok: boolean) => void) | null;
  /** The engine dropped this link on purpose; its close is not news. */
  dropping: boolean;
  /** The dropped socket has not reported 'close' yet; a reconnect must wait for it. */
  closing: boolean;
  /** A connection attempt is under way (mqtt.js has no public flag for it). */
  connecting: boolean;
}

export class MqttDeviceTransport implements FleetTransport {
  readonly stats = new TransportStats();
  private readonly links = new Map<string, DeviceLink>();

  constructor(private readonly o: MqttDeviceTransportOptions) {}

  connect(device: SimDevice, done: (ok: boolean) => void): void {
    const existing = this.links.get(device.id);
    if (existing !== undefined) {
      if (existing.client.connected && !existing.closing) {
        done(true);
        return;
      }
      existing.done = done;
      // Fresh stores: unacked QoS 1 went back to the device buffer. If the dropped socket
      // has not closed yet, the 'close' handler reconnects once it has.
      if (!existing.closing && !existing.connecting) {
        existing.connecting = true;
        existing.client.reconnect();
      }
      return;
    }
    const creds = device.profile.credentials;
    const password = creds === undefined ? undefined : resolveSecret(creds.secret);
    const opts: IClientOptions = {
      clientId: device.id,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      keepalive: this.o.keepaliveS ?? 30,
      connectTimeout: this.o.connectTimeoutMs ?? 10_000,
      queueQoSZero: false,
      ...(password === undefined ? {} : { username: resolveIdentity(creds?.identity, device.id), password }),
    };
    const client = mqtt.connect(this.o.url, opts);
    const link: DeviceLink = { client, done, dropping: false, closing: false, connecting: true };
    this.links.set(device.id, link);
    client.on('connect', () => {
      link.connecting = false;
      this.stats.connects++;
      const cb = link.done;
      link.done = null;
      cb?.(true);
    });
    client.on('close', () => {
      link.connecting = false;
      if (link.closing) {
        link.closing = false;
        link.dropping = false;
        if (link.done !== null) {
          link.connecting = true;
          client.reconnect(); // a connect() came while the old socket was closing
        }
        return;
      }
      const cb = link.done;
      link.done = null;
      if (cb !== null) {
        this.stats.failedConnects++;
        cb(false);
      } else if (!link.dropping) {
        this.stats.linksLost++;
        this.o.onLinkLost(device.id);
      }
    });
    client.on('error', () => {
      this.stats.errors++; // followed by 'close'; handled there
    });
  }

  disconnect(device: SimDevice): void {
    const link = this.links.get(device.id);
    if (link === undefined) return;
    link.done = null;
    const stream = link.client.stream as { destroyed?: boolean; destroy(): void } | undefined;
    if (stream === undefined || stream.destroyed === true) return;
    link.dropping = true;
    link.closing = true;
    // Abrupt loss, no DISCONNECT packet: the broker sees the socket die (and would publish a will).
    stream.destroy();
  }

  send(device: SimDevice, msg: OutMessage): void {
    const link = this.links.get(device.id);
    if (link === undefined || msg.payload === null) return;
    const transport = device.profile.transport;
    if (transport.kind !== 'mqtt') return;
    const qos = this.o.qos ?? transport.qos ?? 0;
    publishCounted(link.client, renderTopic(transport.topic, device.id), msg.payload, qos, this.stats, () => this.o.onUnacked(device.id, msg));
  }

  /** True while too many publishes wait for the socket (or for PUBACKs): the runner stops advancing. */
  congested(limit = 2000): boolean {
    return this.stats.pending > limit;
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => new Promise<void>((resolve) => {
      l.dropping = true;
      l.client.end(true, {}, () => resolve());
    })));
    this.links.clear();
  }
}
