/** Small builders shared by the engine's table-driven tests. */
import type { Reading, SourceRecord } from './types.ts';

export const T = Date.UTC(2026, 0, 1); // aligned to every window size used in tests

export function rd(deviceId: string, eventTime: number, value: number, arrivalTime = eventTime, metric = 'm'): SourceRecord {
  return { type: 'reading', reading: { deviceId, metric, value, eventTime, arrivalTime } };
}

export function tick(processingTime: number): SourceRecord {
  return { type: 'tick', processingTime };
}

export function reading(deviceId: string, eventTime: number, value: number, metric = 'm'): Reading {
  return { deviceId, metric, value, eventTime, arrivalTime: eventTime };
}
