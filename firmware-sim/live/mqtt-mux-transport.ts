/**
 * Many simulated devices over a few MQTT connections, for fleets too large
 * for one TCP connection per device from one process (the 10,000-device
 * benchmark). Each device still publishes to its own topic; what is lost is
 * the per-device client id and per-device disconnects, which here are
 * logical only (the engine still buffers and replays, the shared connection
 * stays up). Connection loss is real: mqtt.js reconnects the connection and
 * every device on it goes through the engine's reconnect path.
 */
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { renderTopic } from '../../devices/index.ts';
import type { FleetTransport, OutMessage } from '../core/fleet-engine.ts';
import type { SimDevice } from '../core/sim-device.ts';
import { TransportStats, publishCounted } from './transport-stats.ts';

export interface MqttMuxTransportOptions {
  readonly url: string;
  readonly connections: number;
  /** Client ids are `<prefix>-<n>`. */
  readonly clientIdPrefix: string;
  readonly qos?: 0 | 1;
  readonly onLinkLost: (deviceId: string) => void;
  readonly onUnacked: (deviceId: string, msg: OutMessage) => void;
}

interface Conn {
  readonly client: MqttClient;
  readonly devices: Set<string>;
  waiters: ((ok: boolean) => void)[];
}

export class MqttMuxTransport implements FleetTransport {
  readonly stats = new TransportStats();
  private readonly conns: Conn[] = [];
  private readonly assigned = new Map<string, Conn>();
  private readonly topics = new Map<string, string>();

  constructor(private readonly o: MqttMuxTransportOptions) {
    for (let i = 0; i < o.connections; i++) {
      const client = mqtt.connect(o.url, {
        clientId: `${o.clientIdPrefix}-${i}`,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 1000,
        keepalive: 30,
        queueQoSZero: false,
      });
      const conn: Conn = { client, devices: new Set(), waiters: [] };
      client.on('connect', () => {
        this.stats.connects++;
        const ws = conn.waiters;
        conn.waiters = [];
        for (const w of ws) w(true);
      });
      client.on('close', () => {
        if (conn.waiters.length > 0) return; // still connecting; mqtt.js retries
        for (const id of conn.devices) this.o.onLinkLost(id);
        if (conn.devices.size > 0) this.stats.linksLost++;
      });
      client.on('error', () => {
        this.stats.errors++;
      });
      this.conns.push(conn);
    }
  }

  private connOf(device: SimDevice): Conn {
    let c = this.assigned.get(device.id);
    if (c === undefined) {
      c = this.conns[this.assigned.size % this.conns.length];
      this.assigned.set(device.id, c);
    }
    return c;
  }

  connect(device: SimDevice, done: (ok: boolean) => void): void {
    const c = this.connOf(device);
    c.devices.add(device.id);
    if (c.client.connected) done(true);
    else c.waiters.push(done);
  }

  disconnect(device: SimDevice): void {
    this.connOf(device).devices.delete(device.id);
  }

  send(device: SimDevice, msg: OutMessage): void {
    const t = device.profile.transport;
    if (t.kind !== 'mqtt' || msg.payload === null) return;
    let topic = this.topics.get(device.id);
    if (topic === undefined) {
      topic = renderTopic(t.topic, device.id);
      this.topics.set(device.id, topic);
    }
    const qos = this.o.qos ?? t.qos ?? 0;
    publishCounted(this.connOf(device).client, topic, msg.payload, qos, this.stats, () => this.o.onUnacked(device.id, msg));
  }

  congested(limit = 2000): boolean {
    return this.stats.pending > limit;
  }

  async close(): Promise<void> {
    await Promise.all(this.conns.map((c) => new Promise<void>((resolve) => c.client.end(true, {}, () => resolve()))));
  }
}
