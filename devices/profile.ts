/**
 * Device profiles: plain data (loadable from JSON or YAML) that say how a kind
 * of device talks and what it measures. The gateway uses a profile to decode
 * and validate payloads; the simulator uses the same profile to produce them.
 * Validation lives in `profile-validate.ts`.
 */

export type CodecName = 'json' | 'senml-json' | 'senml-cbor' | 'cbor';

export const CODEC_NAMES: readonly CodecName[] = ['json', 'senml-json', 'senml-cbor', 'cbor'];

/** MQTT: the device publishes to `topic`, a template containing `{deviceId}`. */
export interface MqttTransport {
  readonly kind: 'mqtt';
  /** e.g. `weir/{deviceId}/telemetry`; no MQTT wildcards. */
  readonly topic: string;
  /** QoS the device publishes with (default 0). */
  readonly qos?: 0 | 1;
}

/** CoAP: the device serves an observable resource (RFC 7641) the gateway observes. */
export interface CoapTransport {
  readonly kind: 'coap';
  /** Resource path on the device, e.g. `/sensors/env`. */
  readonly resource: string;
  /** Notifications sent as confirmable (true) or non-confirmable (false, default). */
  readonly confirmable?: boolean;
  /** DTLS with a pre-shared key (coaps://). The key comes from `credentials`. */
  readonly dtls?: boolean;
}

export type Transport = MqttTransport | CoapTransport;

/** Where a reading's event time comes from. */
export type EventTimeSource =
  /** A field of a flat JSON/CBOR payload, ms since epoch. */
  | { readonly source: 'payload'; readonly field: string }
  /** SenML base time + time (RFC 8428 §4.5.3), seconds converted to ms. */
  | { readonly source: 'senml' }
  /** The payload carries no usable time: the gateway's arrival time is the event time. */
  | { readonly source: 'arrival' };

/**
 * How the simulator produces a metric. The value at true time t is
 * `base + dailyAmplitude·cos(2π(hourOfDay(t) − peakHour)/24) + trendPerDay·days + noise`,
 * where noise is an AR(1) process with standard deviation `noise` and lag-one
 * correlation `smoothing`. A `counter` accumulates `ratePerHour` (never decreases).
 */
export interface SignalSpec {
  readonly kind?: 'gauge' | 'counter';
  readonly base: number;
  readonly dailyAmplitude?: number;
  /** Hour of day (UTC, 0–24) at which the daily cycle peaks. */
  readonly peakHour?: number;
  readonly trendPerDay?: number;
  /** Gauge: standard deviation of the noise, in the metric's unit. Counter: relative jitter of the rate. */
  readonly noise?: number;
  /** AR(1) lag-one correlation in [0, 1): 0 is white noise. */
  readonly smoothing?: number;
  /** Counter only: mean increase per hour. */
  readonly ratePerHour?: number;
}

export interface MetricSpec {
  /** SenML unit symbol (RFC 8428 §12.1), e.g. `Cel`, `%RH`, `Pa`, `W`, `Wh`, `m/s2`. */
  readonly unit: string;
  /** Valid range [min, max], inclusive; values outside are out of range. */
  readonly range: readonly [number, number];
  /** Decimal places the device reports (default 2). */
  readonly decimals?: number;
  readonly signal: SignalSpec;
}

/**
 * A reference to a secret, never the secret itself: `env:NAME` (environment
 * variable) or `file:PATH`. For MQTT it is the password (username defaults to
 * the device id); for CoAP DTLS it is the PSK, with `identity` as PSK identity.
 */
export interface CredentialsRef {
  readonly secret: string;
  /** Template for the username / PSK identity; default `{deviceId}`. */
  readonly identity?: string;
}

export interface DeviceProfile {
  /** Profile name, kebab-case, e.g. `env-sensor`. */
  readonly name: string;
  readonly description?: string;
  /** Regular expression (source text) every device id of this profile matches, e.g. `^env-[0-9]{4}$`. */
  readonly deviceIdPattern: string;
  /** Prefix the simulator uses for generated ids (`<prefix>-0001`); default the profile name. */
  readonly deviceIdPrefix?: string;
  readonly transport: Transport;
  readonly codec: CodecName;
  /** Expected interval between samples, ms. */
  readonly samplingIntervalMs: number;
  readonly eventTime: EventTimeSource;
  readonly credentials?: CredentialsRef;
  /** Metric name → spec. Names match `[a-z][a-z0-9_]*`. */
  readonly metrics: Readonly<Record<string, MetricSpec>>;
}

/** Decimal places a metric is reported with. */
export function metricDecimals(spec: MetricSpec): number {
  return spec.decimals ?? 2;
}

/** The device id prefix the simulator uses for a profile. */
export function deviceIdPrefix(profile: DeviceProfile): string {
  return profile.deviceIdPrefix ?? profile.name;
}
