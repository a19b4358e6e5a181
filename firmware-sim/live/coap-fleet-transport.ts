/**
 * The CoAP side of a live fleet: one endpoint per CoAP device (its own UDP
 * port), each serving the profile's resource. Plain CoAP devices are `coap`
 * servers (coap-device-server.ts); DTLS PSK devices are libcoap servers
 * (libcoap-psk-device.ts). `endpoints()` is the list a gateway observes.
 */
import { codecFor } from '../../devices/index.ts';
import type { FleetTransport, OutMessage } from '../core/fleet-engine.ts';
import { encodePayload } from '../core/payload.ts';
import { hashFloat } from '../core/prng.ts';
import type { SimDevice } from '../core/sim-device.ts';
import { SimError } from '../core/sim-error.ts';
import { CoapDeviceServer } from './coap-device-server.ts';
import { resolveIdentity, resolveSecret } from './credentials.ts';
import { LibcoapPskDevice } from './libcoap-psk-device.ts';
import type { ObserverPolicy } from './observer-registry.ts';
import { TransportStats } from './transport-stats.ts';

export interface CoapEndpoint {
  readonly deviceId: string;
  readonly profile: string;
  readonly url: string;
  readonly contentFormat: number;
  readonly confirmable: boolean;
  /** DTLS PSK identity (coaps endpoints only); the key is the profile's credentials secret. */
  readonly pskIdentity?: string;
}

interface Served {
  readonly endpoint: CoapEndpoint;
  readonly server: CoapDeviceServer | LibcoapPskDevice;
}

export interface CoapFleetOptions {
  readonly host: string;
  readonly seed: number;
  readonly policy: ObserverPolicy;
  /** Clock for observer expiry. */
  readonly now: () => number;
}

export class CoapFleetTransport implements FleetTransport {
  private readonly served = new Map<string, Served>();

  constructor(private readonly o: CoapFleetOptions) {}

  /** Opens an endpoint for every CoAP device of the fleet. */
  async start(devices: readonly SimDevice[]): Promise<void> {
    for (const d of devices) {
      const t = d.profile.transport;
      if (t.kind !== 'coap') continue;
      const contentFormat = codecFor(d.profile.codec).contentFormat ?? 42;
      const confirmable = t.confirmable ?? false;
      if (t.dtls === true) {
        const creds = d.profile.credentials;
        const psk = creds === undefined ? undefined : resolveSecret(creds.secret);
        if (psk === undefined) throw new SimError('E_SIM_CONFIG', `${d.id}: DTLS needs the PSK (${creds?.secret ?? 'credentials.secret'})`);
        const server = new LibcoapPskDevice({ deviceId: d.id, resource: t.resource, contentFormat, psk, nonConfirmable: !confirmable, host: this.o.host });
        // libcoap needs a representation to create the resource: sample 0, as the device will take it.
        const s0 = d.peekFirstSample();
        await server.listen(encodePayload(d.profile, d.id, s0.readings));
        this.served.set(d.id, { server, endpoint: { deviceId: d.id, profile: d.profile.name, url: server.url, contentFormat, confirmable, pskIdentity: resolveIdentity(creds?.identity, d.id) } });
      } else {
        const server = new CoapDeviceServer({
          deviceId: d.id,
          resource: t.resource,
          contentFormat,
          confirmable,
          policy: this.o.policy,
          now: this.o.now,
          host: this.o.host,
          firstMessageId: Math.floor(hashFloat(this.o.seed, d.id, 'coap-mid') * 65536),
        });
        await server.listen();
        this.served.set(d.id, { server, endpoint: { deviceId: d.id, profile: d.profile.name, url: server.url, contentFormat, confirmable } });
      }
    }
  }

  endpoints(): CoapEndpoint[] {
    return [...this.served.values()].map((s) => s.endpoint);
  }

  server(deviceId: string): CoapDeviceServer | LibcoapPskDevice | undefined {
    return this.served.get(deviceId)?.server;
  }

  stats(): TransportStats {
    const total = new TransportStats();
    for (const { server } of this.served.values()) {
      for (const k of Object.keys(total) as (keyof TransportStats)[]) total[k] += server.stats[k];
    }
    return total;
  }

  connect(_device: SimDevice, done: (ok: boolean) => void): void {
    done(true);
  }

  disconnect(_device: SimDevice): void {}

  send(device: SimDevice, msg: OutMessage): void {
    if (msg.payload === null) return;
    this.served.get(device.id)?.server.publish(msg.payload);
  }

  /** Expires observers that stopped acknowledging (call periodically). */
  expire(): void {
    for (const { server } of this.served.values()) server.expire();
  }

  async close(): Promise<void> {
    await Promise.all([...this.served.values()].map((s) => s.server.close()));
    this.served.clear();
  }
}
