import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Reading, SourceRecord } from '../engine/types.ts';
import { seededRandom } from '../../cloud-sync/seeded-random.ts';

/** Helpers shared by the state/ tests (not shipped code paths). */

/** Outbox rows per checkpoint written by checkpoint-crash-child.ts. */
export const CRASH_CHILD_ROWS = 50;

export function tempDir(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  return {
    dir,
    file: (name) => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Deterministic PRNG (mulberry32): the one cloud-sync's benches and hostile-input tests use. */
export const rng = seededRandom;

const METRICS = ['temperature', 'humidity', 'pressure'];

/**
 * `n` records from a seeded generator: readings of `devices` devices with
 * two-decimal values, a tick every `tickEvery` records, tags on some
 * readings, and (when `awkward`) values and times that defeat the compact
 * encodings: -0, NaN, ±Infinity, fractional times.
 */
export function makeRecords(n: number, seed = 1, opts: { devices?: number; tickEvery?: number; awkward?: boolean; t0?: number } = {}): SourceRecord[] {
  const r = rng(seed);
  const devices = opts.devices ?? 50;
  const tickEvery = opts.tickEvery ?? 97;
  let t = opts.t0 ?? 1_700_000_000_000;
  const out: SourceRecord[] = [];
  for (let i = 0; i < n; i++) {
    t += Math.floor(r() * 5);
    if (tickEvery > 0 && i % tickEvery === tickEvery - 1) {
      out.push({ type: 'tick', processingTime: t + 3 });
      continue;
    }
    let value = Math.round(r() * 10000) / 100;
    let eventTime = t - Math.floor(r() * 50);
    if (opts.awkward === true) {
      const k = i % 7;
      if (k === 1) value = -0;
      else if (k === 2) value = Number.NaN;
      else if (k === 3) value = Number.POSITIVE_INFINITY;
      else if (k === 4) eventTime = eventTime + 0.25;
      else if (k === 5) value = 2 ** 60;
    }
    const reading: { -readonly [K in keyof Reading]: Reading[K] } = {
      deviceId: `dev-${Math.floor(r() * devices)}`,
      metric: METRICS[i % METRICS.length]!,
      value,
      eventTime,
      arrivalTime: t,
    };
    if (i % 11 === 0) reading.tags = { site: 'north', floor: i % 3, ok: i % 2 === 0 };
    out.push({ type: 'reading', reading });
  }
  return out;
}

/** Readings of about 60 bytes as JSON (the benchmark's unit). */
export function benchReadings(n: number, seed = 7, t0 = 1_700_000_000_000): SourceRecord[] {
  const r = rng(seed);
  const out: SourceRecord[] = new Array(n);
  let t = t0;
  for (let i = 0; i < n; i++) {
    t += i % 3 === 0 ? 1 : 0;
    out[i] = {
      type: 'reading',
      reading: { deviceId: `d${(i * 7919) % 500}`, metric: METRICS[i % 3]!, value: Math.round(r() * 10000) / 100, eventTime: t - (i % 17), arrivalTime: t },
    };
  }
  return out;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export function bytes(...xs: number[]): Uint8Array {
  return Uint8Array.from(xs);
}

/** Plain Uint8Array copy (Buffers from SQLite compare unequal to Uint8Array under deepStrictEqual). */
export function u8(b: Uint8Array | null): Uint8Array | null {
  return b === null ? null : Uint8Array.from(b);
}
