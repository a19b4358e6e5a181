/**
 * Profiles shipped with weir. Plain data, validated like any user profile
 * (see `builtin-profiles.test.ts`); the same objects could be a YAML file.
 */
import type { DeviceProfile } from './profile.ts';
import { validateProfiles } from './profile-validate.ts';

const RAW: readonly unknown[] = [
  {
    name: 'env-sensor',
    description: 'Room climate: temperature, humidity, pressure; flat JSON over MQTT with a ts field.',
    deviceIdPattern: '^env-[0-9]{4,}$',
    deviceIdPrefix: 'env',
    transport: { kind: 'mqtt', topic: 'weir/{deviceId}/telemetry', qos: 0 },
    codec: 'json',
    samplingIntervalMs: 5000,
    eventTime: { source: 'payload', field: 'ts' },
    credentials: { secret: 'env:WEIR_SIM_MQTT_PASSWORD' },
    metrics: {
      temperature: {
        unit: 'Cel', range: [-40, 85], decimals: 2,
        signal: { base: 21, dailyAmplitude: 2.5, peakHour: 15, trendPerDay: 0.05, noise: 0.12, smoothing: 0.8 },
      },
      humidity: {
        unit: '%RH', range: [0, 100], decimals: 1,
        signal: { base: 45, dailyAmplitude: 8, peakHour: 5, noise: 0.6, smoothing: 0.7 },
      },
      pressure: {
        unit: 'Pa', range: [87000, 108500], decimals: 0,
        signal: { base: 101325, dailyAmplitude: 120, peakHour: 10, trendPerDay: -40, noise: 6, smoothing: 0.9 },
      },
    },
  },
  {
    name: 'vibration',
    description: 'Machine vibration RMS; SenML CBOR over MQTT, SenML time.',
    deviceIdPattern: '^vib-[0-9]{4,}$',
    deviceIdPrefix: 'vib',
    transport: { kind: 'mqtt', topic: 'weir/{deviceId}/vibration', qos: 1 },
    codec: 'senml-cbor',
    samplingIntervalMs: 1000,
    eventTime: { source: 'senml' },
    metrics: {
      vibration_rms: {
        unit: 'm/s2', range: [0, 50], decimals: 3,
        signal: { base: 2.4, dailyAmplitude: 0.9, peakHour: 14, noise: 0.25, smoothing: 0.3 },
      },
    },
  },
  {
    name: 'power-meter',
    description: 'Electricity meter: power and cumulative energy; raw CBOR served over CoAP observe.',
    deviceIdPattern: '^pwr-[0-9]{4,}$',
    deviceIdPrefix: 'pwr',
    transport: { kind: 'coap', resource: '/sensors/power', confirmable: true },
    codec: 'cbor',
    samplingIntervalMs: 5000,
    eventTime: { source: 'payload', field: 'ts' },
    metrics: {
      power: {
        unit: 'W', range: [0, 20000], decimals: 1,
        signal: { base: 1200, dailyAmplitude: 600, peakHour: 19, noise: 35, smoothing: 0.85 },
      },
      energy: {
        unit: 'Wh', range: [0, 1e12], decimals: 1,
        signal: { kind: 'counter', base: 1000000, ratePerHour: 1200, noise: 0.2 },
      },
    },
  },
  {
    name: 'air-quality',
    description: 'Indoor air: CO2 and PM2.5; SenML JSON over MQTT, SenML time.',
    deviceIdPattern: '^aq-[0-9]{4,}$',
    deviceIdPrefix: 'aq',
    transport: { kind: 'mqtt', topic: 'weir/{deviceId}/senml', qos: 0 },
    codec: 'senml-json',
    samplingIntervalMs: 10000,
    eventTime: { source: 'senml' },
    metrics: {
      co2: {
        unit: 'ppm', range: [350, 5000], decimals: 0,
        signal: { base: 620, dailyAmplitude: 180, peakHour: 11, noise: 12, smoothing: 0.9 },
      },
      pm2_5: {
        unit: 'ug/m3', range: [0, 500], decimals: 1,
        signal: { base: 11, dailyAmplitude: 4, peakHour: 8, noise: 1.2, smoothing: 0.6 },
      },
    },
  },
  {
    name: 'cold-room',
    description: 'Cold-room thermometer behind DTLS PSK: SenML CBOR over coaps (served by libcoap).',
    deviceIdPattern: '^cold-[0-9]{4,}$',
    deviceIdPrefix: 'cold',
    transport: { kind: 'coap', resource: '/sensors/cold', dtls: true },
    codec: 'senml-cbor',
    samplingIntervalMs: 10000,
    eventTime: { source: 'senml' },
    credentials: { secret: 'env:WEIR_SIM_PSK', identity: '{deviceId}' },
    metrics: {
      temperature: {
        unit: 'Cel', range: [-30, 15], decimals: 2,
        signal: { base: 3, dailyAmplitude: 0.4, peakHour: 16, noise: 0.08, smoothing: 0.9 },
      },
    },
  },
];

export const BUILTIN_PROFILES: readonly DeviceProfile[] = validateProfiles(RAW, 'builtinProfiles');

export function builtinProfile(name: string): DeviceProfile | undefined {
  return BUILTIN_PROFILES.find((p) => p.name === name);
}
