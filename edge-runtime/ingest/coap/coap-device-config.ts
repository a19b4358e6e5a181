/**
 * The gateway's CoAP device list: device id → endpoint (host:port), from
 * configuration. Each entry is resolved against the device profiles into a
 * target: profile, scheme (coaps when the profile asks for DTLS), URI.
 * Errors are ConfigErrors naming the field, e.g. `coap.devices[2].endpoint`.
 */
import { isIP } from 'node:net';
import { deviceIdMatches } from '../../../devices/index.ts';
import type { CoapTransport, DeviceProfile } from '../../../devices/index.ts';
import { ConfigError } from '../../errors.ts';

export interface CoapDeviceEntry {
  readonly deviceId: string;
  /** `host:port`, `[v6]:port` or a bare host (port 5683, or 5684 for DTLS). */
  readonly endpoint: string;
  /** Profile name; default: the one CoAP profile whose id pattern matches. */
  readonly profile?: string;
  /** Observe (default; falls back to polling if the resource is not observable) or poll. */
  readonly mode?: 'observe' | 'poll';
  /** Poll interval (default the profile's sampling interval). */
  readonly pollIntervalMs?: number;
}

export interface CoapTarget {
  readonly deviceId: string;
  readonly profile: DeviceProfile;
  readonly transport: CoapTransport;
  readonly secure: boolean;
  /** `coap://host:port` or `coaps://host:port`: one connection (and DTLS session) per origin. */
  readonly origin: string;
  /** origin + resource path. */
  readonly uri: string;
  readonly mode: 'observe' | 'poll';
  readonly pollIntervalMs: number;
}

const DEFAULT_PORT = 5683; // RFC 7252 §6.1
const DEFAULT_SECURE_PORT = 5684; // RFC 7252 §6.2

function splitEndpoint(endpoint: string, field: string): { host: string; port: number | null } {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(endpoint);
  if (v6 !== null) {
    if (isIP(v6[1]!) !== 6) throw new ConfigError(field, `${endpoint} is not an IPv6 address`);
    return { host: `[${v6[1]!.toLowerCase()}]`, port: v6[2] === undefined ? null : Number(v6[2]) };
  }
  const m = /^([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(endpoint);
  if (m === null) throw new ConfigError(field, `${JSON.stringify(endpoint)} is not host:port`);
  return { host: m[1]!.toLowerCase(), port: m[2] === undefined ? null : Number(m[2]) };
}

export function resolveCoapTargets(entries: readonly CoapDeviceEntry[], profiles: readonly DeviceProfile[], path = 'coap.devices'): CoapTarget[] {
  const coapProfiles = profiles.filter((p) => p.transport.kind === 'coap');
  const ids = new Set<string>();
  const origins = new Map<string, string>();
  return entries.map((e, i) => {
    const at = `${path}[${i}]`;
    if (typeof e.deviceId !== 'string' || e.deviceId === '') throw new ConfigError(`${at}.deviceId`, 'is required');
    if (ids.has(e.deviceId)) throw new ConfigError(`${at}.deviceId`, `${e.deviceId} is listed twice`);
    ids.add(e.deviceId);
    let profile: DeviceProfile | undefined;
    if (e.profile !== undefined) {
      profile = coapProfiles.find((p) => p.name === e.profile);
      if (profile === undefined) throw new ConfigError(`${at}.profile`, `no CoAP profile named ${e.profile}`);
      if (!deviceIdMatches(profile, e.deviceId)) throw new ConfigError(`${at}.deviceId`, `${e.deviceId} does not match profile ${profile.name}'s pattern ${profile.deviceIdPattern}`);
    } else {
      const matches = coapProfiles.filter((p) => deviceIdMatches(p, e.deviceId));
      if (matches.length !== 1) {
        throw new ConfigError(`${at}.profile`, matches.length === 0 ? `no CoAP profile matches device ${e.deviceId}` : `device ${e.deviceId} matches several CoAP profiles (${matches.map((p) => p.name).join(', ')}): name one`);
      }
      profile = matches[0]!;
    }
    const transport = profile.transport as CoapTransport;
    const secure = transport.dtls === true;
    const { host, port } = splitEndpoint(String(e.endpoint), `${at}.endpoint`);
    const p = port ?? (secure ? DEFAULT_SECURE_PORT : DEFAULT_PORT);
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new ConfigError(`${at}.endpoint`, `port ${p} is out of range`);
    const origin = `${secure ? 'coaps' : 'coap'}://${host}:${p}`;
    // One device per origin: a connection (and its DTLS session) is reset per device on re-registration.
    const other = origins.get(origin);
    if (other !== undefined) throw new ConfigError(`${at}.endpoint`, `${origin} is already the endpoint of ${other}`);
    origins.set(origin, e.deviceId);
    const mode = e.mode ?? 'observe';
    if (mode !== 'observe' && mode !== 'poll') throw new ConfigError(`${at}.mode`, 'must be observe or poll');
    const pollIntervalMs = e.pollIntervalMs ?? profile.samplingIntervalMs;
    if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 10) throw new ConfigError(`${at}.pollIntervalMs`, 'must be at least 10 ms');
    const resource = transport.resource.startsWith('/') ? transport.resource : `/${transport.resource}`;
    return { deviceId: e.deviceId, profile, transport, secure, origin, uri: origin + resource, mode, pollIntervalMs };
  });
}
