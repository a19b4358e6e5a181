import { WeirError } from '../errors.ts';
import type { DetectorState } from './detector.ts';

/**
 * Helpers that turn detector state into plain data that survives JSON and
 * CBOR unchanged, bit for bit: finite numbers stay numbers, −0, ±Infinity and
 * NaN become short strings (JSON would turn them into 0 or null), byte arrays
 * become base64 strings.
 */

export type EncodedNumber = number | '-0' | 'inf' | '-inf' | 'nan';

export function encNum(x: number): EncodedNumber {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (x === 0 && Object.is(x, -0)) return '-0';
  return x;
}

export function encNums(xs: ArrayLike<number>): EncodedNumber[] {
  const out: EncodedNumber[] = new Array<EncodedNumber>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = encNum(xs[i]!);
  return out;
}

export function encBytes(bytes: Uint8Array | Uint32Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Reads fields out of a snapshot's `data`, refusing anything of the wrong shape. */
export class StateReader {
  private readonly data: Record<string, unknown>;
  constructor(private readonly what: string, data: unknown) {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw this.bad('data is not an object');
    this.data = data as Record<string, unknown>;
  }

  /** An error for a snapshot whose data is inconsistent. */
  fail(msg: string): WeirError {
    return this.bad(msg);
  }

  private bad(msg: string): WeirError {
    return new WeirError('E_STATE_VERSION', `${this.what} state: ${msg}`);
  }

  num(key: string): number {
    const v = this.data[key];
    const x = decNum(v);
    if (x === undefined) throw this.bad(`${key} is not a number`);
    return x;
  }

  int(key: string): number {
    const x = this.num(key);
    if (!Number.isInteger(x)) throw this.bad(`${key} is not a whole number`);
    return x;
  }

  bool(key: string): boolean {
    const v = this.data[key];
    if (typeof v !== 'boolean') throw this.bad(`${key} is not a boolean`);
    return v;
  }

  nums(key: string, length?: number): number[] {
    const v = this.data[key];
    if (!Array.isArray(v)) throw this.bad(`${key} is not a list`);
    if (length !== undefined && v.length !== length) throw this.bad(`${key} has ${v.length} entries, expected ${length}`);
    return v.map((e, i) => {
      const x = decNum(e);
      if (x === undefined) throw this.bad(`${key}[${i}] is not a number`);
      return x;
    });
  }

  /** Fills `into` from a base64 field of exactly its byte length. */
  bytes(key: string, into: Uint8Array | Uint32Array): void {
    const v = this.data[key];
    if (typeof v !== 'string') throw this.bad(`${key} is not a base64 string`);
    const buf = Buffer.from(v, 'base64');
    if (buf.length !== into.byteLength) throw this.bad(`${key} holds ${buf.length} bytes, expected ${into.byteLength}`);
    new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(buf);
  }

  list(key: string, length: number): StateReader[] {
    const v = this.data[key];
    if (!Array.isArray(v) || v.length !== length) throw this.bad(`${key} is not a list of ${length}`);
    return v.map((e: unknown, i) => new StateReader(`${this.what}.${key}[${i}]`, e));
  }

  object(key: string): StateReader {
    return new StateReader(`${this.what}.${key}`, this.data[key]);
  }

  raw(key: string): unknown {
    return this.data[key];
  }
}

function decNum(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  switch (v) {
    case '-0': return -0;
    case 'inf': return Number.POSITIVE_INFINITY;
    case '-inf': return Number.NEGATIVE_INFINITY;
    case 'nan': return Number.NaN;
    default: return undefined;
  }
}

/**
 * Checks a snapshot's name and version and that it was taken under the same
 * spec (settings change what the state means), then returns a reader for its data.
 */
export function openState(state: DetectorState, name: string, version: number, spec: unknown): StateReader {
  if (state.name !== name) throw new WeirError('E_STATE_VERSION', `expected ${name} state, got ${JSON.stringify(state.name)}`);
  if (state.version !== version) throw new WeirError('E_STATE_VERSION', `${name} state version ${state.version} is not ${version}`);
  const r = new StateReader(name, state.data);
  if (JSON.stringify(r.raw('spec')) !== JSON.stringify(spec)) {
    throw new WeirError('E_STATE_VERSION', `${name} state was taken under different settings (${JSON.stringify(r.raw('spec'))})`);
  }
  return r;
}
