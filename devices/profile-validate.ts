/**
 * Validation of device profiles given as plain data (parsed JSON or YAML).
 * Every failure throws a `ProfileError` naming the field by path, e.g.
 * `profiles[2].metrics.temperature.range`. Unknown fields are refused, so a
 * typo does not silently fall back to a default.
 */
import { ProfileError } from './errors.ts';
import { CODEC_NAMES } from './profile.ts';
import type {
  CodecName,
  CredentialsRef,
  DeviceProfile,
  EventTimeSource,
  MetricSpec,
  SignalSpec,
  Transport,
} from './profile.ts';
import { checkTopicTemplate } from './topic.ts';

type Obj = Record<string, unknown>;

const PROFILE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const METRIC_NAME = /^[a-z][a-z0-9_]*$/;
/** RFC 8428 §4.5.1 name characters, so a device id can be part of a SenML name. */
const ID_PREFIX = /^[A-Za-z0-9][A-Za-z0-9\-._]*$/;
const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/;

function obj(v: unknown, path: string, allowed: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ProfileError(path, 'must be an object');
  }
  const o = v as Obj;
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ProfileError(`${path}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
  return o;
}

function str(v: unknown, path: string, re?: RegExp, what?: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ProfileError(path, 'must be a non-empty string');
  if (re !== undefined && !re.test(v)) throw new ProfileError(path, `must be ${what ?? `a string matching ${re.source}`}`);
  return v;
}

function num(v: unknown, path: string, opts: { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProfileError(path, 'must be a finite number');
  if (opts.int === true && !Number.isInteger(v)) throw new ProfileError(path, 'must be an integer');
  if (opts.min !== undefined && (opts.exclusiveMin === true ? v <= opts.min : v < opts.min)) {
    throw new ProfileError(path, `must be ${opts.exclusiveMin === true ? '>' : '>='} ${opts.min}`);
  }
  if (opts.max !== undefined && v > opts.max) throw new ProfileError(path, `must be <= ${opts.max}`);
  return v;
}

function optNum(v: unknown, path: string, opts: Parameters<typeof num>[2] = {}): number | undefined {
  return v === undefined ? undefined : num(v, path, opts);
}

function bool(v: unknown, path: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ProfileError(path, 'must be true or false');
  return v;
}

function transport(v: unknown, path: string): Transport {
  const kind = (typeof v === 'object' && v !== null ? (v as Obj).kind : undefined);
  if (kind === 'mqtt') {
    const o = obj(v, path, ['kind', 'topic', 'qos']);
    const topic = str(o.topic, `${path}.topic`);
    const problem = checkTopicTemplate(topic);
    if (problem !== null) throw new ProfileError(`${path}.topic`, problem);
    if (o.qos !== undefined && o.qos !== 0 && o.qos !== 1) throw new ProfileError(`${path}.qos`, 'must be 0 or 1');
    return o.qos === undefined ? { kind, topic } : { kind, topic, qos: o.qos };
  }
  if (kind === 'coap') {
    const o = obj(v, path, ['kind', 'resource', 'confirmable', 'dtls']);
    const resource = str(o.resource, `${path}.resource`, /^\/[A-Za-z0-9\-._~/]*$/, 'an absolute path such as /sensors/env');
    const confirmable = bool(o.confirmable, `${path}.confirmable`);
    const dtls = bool(o.dtls, `${path}.dtls`);
    return { kind, resource, ...(confirmable === undefined ? {} : { confirmable }), ...(dtls === undefined ? {} : { dtls }) };
  }
  if (typeof v !== 'object' || v === null) throw new ProfileError(path, 'must be an object');
  throw new ProfileError(`${path}.kind`, 'must be "mqtt" or "coap"');
}

function eventTime(v: unknown, path: string, codec: CodecName): EventTimeSource {
  const source = (typeof v === 'object' && v !== null ? (v as Obj).source : undefined);
  const senml = codec === 'senml-json' || codec === 'senml-cbor';
  if (source === 'payload') {
    const o = obj(v, path, ['source', 'field']);
    if (senml) throw new ProfileError(`${path}.source`, `"payload" needs a flat codec (json, cbor); ${codec} carries time as SenML bt/t`);
    return { source, field: str(o.field, `${path}.field`, METRIC_NAME, 'a field name like ts') };
  }
  if (source === 'senml') {
    obj(v, path, ['source']);
    if (!senml) throw new ProfileError(`${path}.source`, `"senml" needs a SenML codec, not ${codec}`);
    return { source };
  }
  if (source === 'arrival') {
    obj(v, path, ['source']);
    return { source };
  }
  if (typeof v !== 'object' || v === null) throw new ProfileError(path, 'must be an object');
  throw new ProfileError(`${path}.source`, 'must be "payload", "senml" or "arrival"');
}

function signal(v: unknown, path: string): SignalSpec {
  const o = obj(v, path, ['kind', 'base', 'dailyAmplitude', 'peakHour', 'trendPerDay', 'noise', 'smoothing', 'ratePerHour']);
  if (o.kind !== undefined && o.kind !== 'gauge' && o.kind !== 'counter') throw new ProfileError(`${path}.kind`, 'must be "gauge" or "counter"');
  const out: { -readonly [K in keyof SignalSpec]: SignalSpec[K] } = { base: num(o.base, `${path}.base`) };
  if (o.kind !== undefined) out.kind = o.kind;
  out.dailyAmplitude = optNum(o.dailyAmplitude, `${path}.dailyAmplitude`, { min: 0 });
  out.peakHour = optNum(o.peakHour, `${path}.peakHour`, { min: 0, max: 24 });
  out.trendPerDay = optNum(o.trendPerDay, `${path}.trendPerDay`);
  out.noise = optNum(o.noise, `${path}.noise`, { min: 0 });
  out.smoothing = optNum(o.smoothing, `${path}.smoothing`, { min: 0, max: 0.999 });
  out.ratePerHour = optNum(o.ratePerHour, `${path}.ratePerHour`, { min: 0 });
  if (out.kind === 'counter' && out.ratePerHour === undefined) throw new ProfileError(`${path}.ratePerHour`, 'is required for a counter');
  for (const k of Object.keys(out) as (keyof SignalSpec)[]) if (out[k] === undefined) delete out[k];
  return out;
}

function metric(v: unknown, path: string): MetricSpec {
  const o = obj(v, path, ['unit', 'range', 'decimals', 'signal']);
  const unit = str(o.unit, `${path}.unit`, /^[A-Za-z0-9%/.\-_]+$/, 'a SenML unit symbol such as Cel');
  if (!Array.isArray(o.range) || o.range.length !== 2) throw new ProfileError(`${path}.range`, 'must be [min, max]');
  const min = num(o.range[0], `${path}.range[0]`);
  const max = num(o.range[1], `${path}.range[1]`);
  if (!(min < max)) throw new ProfileError(`${path}.range`, `min (${min}) must be below max (${max})`);
  const decimals = optNum(o.decimals, `${path}.decimals`, { min: 0, max: 6, int: true });
  const sig = signal(o.signal, `${path}.signal`);
  if (sig.kind !== 'counter' && (sig.base < min || sig.base > max)) {
    throw new ProfileError(`${path}.signal.base`, `must lie inside range [${min}, ${max}]`);
  }
  return { unit, range: [min, max], ...(decimals === undefined ? {} : { decimals }), signal: sig };
}

function credentials(v: unknown, path: string): CredentialsRef | undefined {
  if (v === undefined) return undefined;
  const o = obj(v, path, ['secret', 'identity']);
  const secret = str(o.secret, `${path}.secret`, SECRET_REF, 'env:NAME or file:PATH');
  if (o.identity === undefined) return { secret };
  return { secret, identity: str(o.identity, `${path}.identity`) };
}

const PROFILE_FIELDS = [
  'name', 'description', 'deviceIdPattern', 'deviceIdPrefix', 'transport', 'codec',
  'samplingIntervalMs', 'eventTime', 'credentials', 'metrics',
] as const;

/** Validates one profile; `path` prefixes field names in errors. */
export function validateProfile(v: unknown, path = 'profile'): DeviceProfile {
  const o = obj(v, path, PROFILE_FIELDS);
  const name = str(o.name, `${path}.name`, PROFILE_NAME, 'kebab-case, e.g. env-sensor');
  const description = o.description === undefined ? undefined : str(o.description, `${path}.description`);
  const pattern = str(o.deviceIdPattern, `${path}.deviceIdPattern`);
  try {
    new RegExp(pattern);
  } catch (e) {
    throw new ProfileError(`${path}.deviceIdPattern`, 'is not a valid regular expression', { cause: e });
  }
  const prefix = o.deviceIdPrefix === undefined ? undefined : str(o.deviceIdPrefix, `${path}.deviceIdPrefix`, ID_PREFIX, 'letters, digits, - . _');
  const tr = transport(o.transport, `${path}.transport`);
  if (typeof o.codec !== 'string' || !(CODEC_NAMES as readonly string[]).includes(o.codec)) {
    throw new ProfileError(`${path}.codec`, `must be one of ${CODEC_NAMES.join(', ')}`);
  }
  const codec = o.codec as CodecName;
  const samplingIntervalMs = num(o.samplingIntervalMs, `${path}.samplingIntervalMs`, { min: 1, int: true });
  const et = eventTime(o.eventTime, `${path}.eventTime`, codec);
  const creds = credentials(o.credentials, `${path}.credentials`);
  if (tr.kind === 'coap' && tr.dtls === true && creds === undefined) {
    throw new ProfileError(`${path}.credentials`, 'is required when transport.dtls is true (the PSK)');
  }
  const ms = obj(o.metrics, `${path}.metrics`, Object.keys(o.metrics ?? {}));
  const names = Object.keys(ms);
  if (names.length === 0) throw new ProfileError(`${path}.metrics`, 'must name at least one metric');
  const metrics: Record<string, MetricSpec> = {};
  for (const m of names) {
    if (!METRIC_NAME.test(m)) throw new ProfileError(`${path}.metrics.${m}`, 'metric names match [a-z][a-z0-9_]*');
    if (et.source === 'payload' && m === et.field) throw new ProfileError(`${path}.metrics.${m}`, 'clashes with the event-time field');
    metrics[m] = metric(ms[m], `${path}.metrics.${m}`);
  }
  return {
    name,
    ...(description === undefined ? {} : { description }),
    deviceIdPattern: pattern,
    ...(prefix === undefined ? {} : { deviceIdPrefix: prefix }),
    transport: tr,
    codec,
    samplingIntervalMs,
    eventTime: et,
    ...(creds === undefined ? {} : { credentials: creds }),
    metrics,
  };
}

/**
 * Validates a list of profiles: either an array or `{ profiles: [...] }`.
 * Names must be unique.
 */
export function validateProfiles(v: unknown, path = 'profiles'): DeviceProfile[] {
  let list: unknown = v;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) list = obj(v, '(root)', ['profiles']).profiles;
  if (!Array.isArray(list)) throw new ProfileError(path, 'must be an array of profiles');
  const out: DeviceProfile[] = [];
  const seen = new Map<string, number>();
  list.forEach((p, i) => {
    const prof = validateProfile(p, `${path}[${i}]`);
    const prev = seen.get(prof.name);
    if (prev !== undefined) throw new ProfileError(`${path}[${i}].name`, `duplicates ${path}[${prev}].name "${prof.name}"`);
    seen.set(prof.name, i);
    out.push(prof);
  });
  return out;
}
