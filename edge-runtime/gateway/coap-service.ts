import { ConfigError } from '../errors.ts';
import { CoapIngest } from '../ingest/coap/coap-ingest.ts';
import type { CoapDeviceEntry } from '../ingest/coap/coap-device-config.ts';
import { parseDuration } from '../pipeline/duration.ts';
import type { Gateway, GatewayService } from './gateway.ts';

/**
 * The `coap:` section of the gateway config: which devices to observe (or
 * poll), and where. Profiles say the resource, codec and whether it is DTLS
 * (the PSK comes from the profile's credentials reference).
 *
 * ```yaml
 * coap:
 *   devices:
 *     - { deviceId: pm-0001, endpoint: 10.0.0.21:5683 }
 *     - { deviceId: cold-0001, endpoint: 10.0.0.22, mode: poll, pollInterval: 10s }
 * ```
 */
export interface CoapService extends GatewayService {
  readonly name: 'coap';
  readonly ingest: CoapIngest;
}

export async function startCoapService(g: Gateway): Promise<CoapService | null> {
  const section = g.config.coap;
  if (section === null) return null;
  for (const k of Object.keys(section)) if (k !== 'devices') throw new ConfigError(`coap.${k}`, 'unknown setting (expected: devices)');
  if (!Array.isArray(section.devices) || section.devices.length === 0) throw new ConfigError('coap.devices', 'expected a non-empty list of { deviceId, endpoint }');
  const devices: CoapDeviceEntry[] = section.devices.map((d, i) => {
    const f = `coap.devices[${i}]`;
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new ConfigError(f, 'expected { deviceId, endpoint, profile?, mode?, pollInterval? }');
    const o = d as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['deviceId', 'endpoint', 'profile', 'mode', 'pollInterval'].includes(k)) throw new ConfigError(`${f}.${k}`, 'unknown setting');
    if (o.mode !== undefined && o.mode !== 'observe' && o.mode !== 'poll') throw new ConfigError(`${f}.mode`, `expected observe or poll, got ${JSON.stringify(o.mode)}`);
    return {
      deviceId: String(o.deviceId ?? ''),
      endpoint: String(o.endpoint ?? ''),
      ...(o.profile !== undefined ? { profile: String(o.profile) } : {}),
      ...(o.mode !== undefined ? { mode: o.mode } : {}),
      ...(o.pollInterval !== undefined ? { pollIntervalMs: parseDuration(o.pollInterval, `${f}.pollInterval`) } : {}),
    };
  });
  const ingest = new CoapIngest({ profiles: g.config.profiles, devices, ingestor: g.ingestor, logger: g.logger });
  ingest.start();
  g.logger.log('info', 'coap ingest started', { devices: devices.length });
  return { name: 'coap', ingest, stop: () => ingest.close() };
}
