/**
 * What the gateway does with a frame, given the profiles: find the profile
 * and device for an MQTT topic, decode with the profile's codec and
 * event-time source, and check each reading against the profile's metrics.
 */
import type { DecodedReading } from './codec.ts';
import { codecFor } from './codecs/index.ts';
import type { DeviceProfile, MetricSpec } from './profile.ts';
import { matchTopic } from './topic.ts';

const patterns = new WeakMap<DeviceProfile, RegExp>();

function idPattern(profile: DeviceProfile): RegExp {
  let re = patterns.get(profile);
  if (re === undefined) {
    re = new RegExp(profile.deviceIdPattern);
    patterns.set(profile, re);
  }
  return re;
}

export function deviceIdMatches(profile: DeviceProfile, deviceId: string): boolean {
  return idPattern(profile).test(deviceId);
}

export interface ProfileMatch {
  readonly profile: DeviceProfile;
  readonly deviceId: string;
}

/** The profile (and device id) an MQTT topic belongs to: topic template and id pattern must both match. */
export function matchMqttTopic(profiles: readonly DeviceProfile[], topic: string): ProfileMatch | null {
  for (const profile of profiles) {
    if (profile.transport.kind !== 'mqtt') continue;
    const deviceId = matchTopic(profile.transport.topic, topic);
    if (deviceId !== null && deviceIdMatches(profile, deviceId)) return { profile, deviceId };
  }
  return null;
}

export interface FrameContext {
  /** Device the transport identified (topic or observed endpoint). */
  readonly deviceId: string;
  /** Gateway arrival time, ms. */
  readonly arrivalTime: number;
  readonly maxBytes?: number;
}

/**
 * Decodes a frame with the profile's codec. Event time follows the profile:
 * a payload field, SenML time, or none (the runtime then uses arrival time).
 * Throws DecodeError only.
 */
export function decodeFrame(profile: DeviceProfile, bytes: Uint8Array, frame: FrameContext): DecodedReading[] {
  const et = profile.eventTime;
  const readings = codecFor(profile.codec).decode(bytes, {
    deviceId: frame.deviceId,
    arrivalTime: frame.arrivalTime,
    ...(et.source === 'payload' ? { timeField: et.field } : {}),
    ...(frame.maxBytes === undefined ? {} : { maxBytes: frame.maxBytes }),
  });
  if (et.source === 'arrival') return readings.map(({ deviceId, metric, value }) => ({ deviceId, metric, value }));
  return readings;
}

export type ReadingIssue =
  | { readonly kind: 'unknown-metric'; readonly metric: string }
  | { readonly kind: 'out-of-range'; readonly metric: string; readonly value: number; readonly range: readonly [number, number] };

/** Checks one decoded reading against the profile; null when it is fine. */
export function checkReading(profile: DeviceProfile, r: Pick<DecodedReading, 'metric' | 'value'>): ReadingIssue | null {
  const spec: MetricSpec | undefined = Object.hasOwn(profile.metrics, r.metric) ? profile.metrics[r.metric] : undefined;
  if (spec === undefined) return { kind: 'unknown-metric', metric: r.metric };
  const [min, max] = spec.range;
  if (r.value < min || r.value > max) return { kind: 'out-of-range', metric: r.metric, value: r.value, range: spec.range };
  return null;
}
