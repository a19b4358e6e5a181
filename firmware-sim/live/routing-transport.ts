/** Sends each device's traffic to the transport of its kind (MQTT or CoAP). */
import type { FleetTransport, OutMessage } from '../core/fleet-engine.ts';
import type { SimDevice } from '../core/sim-device.ts';
import { SimError } from '../core/sim-error.ts';

export class RoutingTransport implements FleetTransport {
  constructor(private readonly mqtt: FleetTransport | null, private readonly coap: FleetTransport | null) {}

  private pick(device: SimDevice): FleetTransport {
    const t = device.profile.transport.kind === 'mqtt' ? this.mqtt : this.coap;
    if (t === null) throw new SimError('E_SIM_INTERNAL', `no ${device.profile.transport.kind} transport for ${device.id}`);
    return t;
  }

  connect(device: SimDevice, done: (ok: boolean) => void): void {
    this.pick(device).connect(device, done);
  }

  disconnect(device: SimDevice): void {
    this.pick(device).disconnect(device);
  }

  send(device: SimDevice, msg: OutMessage, arrival: number): void {
    this.pick(device).send(device, msg, arrival);
  }
}
