/**
 * A live fleet: the engine wired to real MQTT clients and CoAP servers.
 * Who advances simulated time is separate: `LiveRunner` follows the wall
 * clock (× time scale); tests call `engine.runUntil(t)` themselves.
 */
import { FleetEngine } from '../core/fleet-engine.ts';
import type { EngineHooks } from '../core/fleet-engine.ts';
import { buildFleet } from '../core/fleet.ts';
import { engineConfig, fleetOptions } from '../core/sim-config.ts';
import type { SimConfig } from '../core/sim-config.ts';
import type { SimDevice } from '../core/sim-device.ts';
import { SimError } from '../core/sim-error.ts';
import { CoapFleetTransport } from './coap-fleet-transport.ts';
import type { CoapEndpoint } from './coap-fleet-transport.ts';
import { MqttDeviceTransport } from './mqtt-device-transport.ts';
import { MqttMuxTransport } from './mqtt-mux-transport.ts';
import { DEFAULT_OBSERVER_POLICY } from './observer-registry.ts';
import type { ObserverPolicy } from './observer-registry.ts';
import { RoutingTransport } from './routing-transport.ts';
import type { TransportStats } from './transport-stats.ts';

export interface LiveOptions {
  /** MQTT broker URL; required when the fleet has MQTT devices. */
  readonly brokerUrl: string | null;
  /** Overrides every profile's QoS. */
  readonly qos?: 0 | 1;
  /** One client per device (client id = device id), or N shared connections. */
  readonly connections: 'per-device' | number;
  readonly clientIdPrefix?: string;
  readonly coapHost?: string;
  readonly observerPolicy?: ObserverPolicy;
  /** Wall clock for network timeouts (CoAP observer expiry). */
  readonly wallNow: () => number;
  /** Receives ground-truth labels as faults start, and link changes. */
  readonly hooks?: Partial<EngineHooks>;
}

export class LiveFleet {
  readonly engine: FleetEngine;
  readonly devices: readonly SimDevice[];
  readonly mqtt: MqttDeviceTransport | MqttMuxTransport | null;
  readonly coap: CoapFleetTransport | null;

  private constructor(config: SimConfig, o: LiveOptions) {
    this.devices = buildFleet(config.fleet, fleetOptions(config));
    const needsMqtt = this.devices.some((d) => d.profile.transport.kind === 'mqtt');
    const needsCoap = this.devices.some((d) => d.profile.transport.kind === 'coap');
    if (needsMqtt && o.brokerUrl === null) throw new SimError('E_SIM_USAGE', 'the fleet has MQTT devices: give a broker URL (--broker)');
    const onLinkLost = (id: string): void => this.engine.linkLost(id);
    const onUnacked = (id: string, msg: Parameters<FleetEngine['requeue']>[1]): void => this.engine.requeue(id, msg);
    const url = o.brokerUrl ?? '';
    this.mqtt = !needsMqtt
      ? null
      : o.connections === 'per-device'
        ? new MqttDeviceTransport({ url, ...(o.qos === undefined ? {} : { qos: o.qos }), onLinkLost, onUnacked })
        : new MqttMuxTransport({ url, connections: o.connections, clientIdPrefix: o.clientIdPrefix ?? `weir-sim-${config.seed}`, ...(o.qos === undefined ? {} : { qos: o.qos }), onLinkLost, onUnacked });
    this.coap = !needsCoap
      ? null
      : new CoapFleetTransport({ host: o.coapHost ?? '127.0.0.1', seed: config.seed, policy: o.observerPolicy ?? DEFAULT_OBSERVER_POLICY, now: o.wallNow });
    const transport = new RoutingTransport(this.mqtt, this.coap);
    const hooks: EngineHooks = { label: (): void => {}, ...o.hooks };
    this.engine = new FleetEngine(this.devices, engineConfig(config, true), transport, hooks);
  }

  /** Builds the fleet and opens the CoAP endpoints (MQTT clients connect as the engine runs). */
  static async open(config: SimConfig, o: LiveOptions): Promise<LiveFleet> {
    const f = new LiveFleet(config, o);
    await f.coap?.start(f.devices);
    return f;
  }

  endpoints(): CoapEndpoint[] {
    return this.coap?.endpoints() ?? [];
  }

  /** True while the MQTT side has too many publishes waiting (back-pressure). */
  congested(): boolean {
    return this.mqtt?.congested() ?? false;
  }

  mqttStats(): TransportStats | null {
    return this.mqtt?.stats ?? null;
  }

  async close(): Promise<void> {
    await Promise.all([this.mqtt?.close(), this.coap?.close()]);
  }
}
