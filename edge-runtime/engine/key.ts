import type { Reading } from './types.ts';
import type { KeyObject } from './outputs.ts';

/** Separator between key parts: the ASCII unit separator, never valid in ids we accept. */
export const KEY_SEP = '\u001f';

/** A field of a reading: `deviceId`, `metric`, `value`, `eventTime`, `arrivalTime`, or a tag as `tags.NAME`. */
export type FieldPath = string;

export type FieldReader = (r: Reading) => unknown;

export function fieldReader(path: FieldPath): FieldReader {
  switch (path) {
    case 'deviceId':
      return (r) => r.deviceId;
    case 'metric':
      return (r) => r.metric;
    case 'value':
      return (r) => r.value;
    case 'eventTime':
      return (r) => r.eventTime;
    case 'arrivalTime':
      return (r) => r.arrivalTime;
    default: {
      const tag = path.startsWith('tags.') ? path.slice(5) : path;
      return (r) => r.tags?.[tag];
    }
  }
}

/** Turns a reading into its key string; `names` are the key's field names in order. */
export interface KeyFn {
  (r: Reading): string;
}

export interface Keying {
  readonly names: readonly string[];
  readonly keyOf: KeyFn;
  toObject(key: string): KeyObject;
}

/**
 * deviceId × metric keys, the common case, without building a new string per
 * reading: the joined key is looked up by its two parts. The cache is bounded;
 * when full it is simply dropped and refilled (keys are equal strings either way).
 */
const INTERN_CAP = 1 << 16;
function internedPair(): KeyFn {
  // metric → (deviceId → joined key): metrics are few, so there are few inner maps.
  const byMetric = new Map<string, Map<string, string>>();
  let size = 0;
  return (r) => {
    let inner = byMetric.get(r.metric);
    if (inner === undefined) {
      inner = new Map();
      byMetric.set(r.metric, inner);
    }
    let k = inner.get(r.deviceId);
    if (k === undefined) {
      if (size >= INTERN_CAP) {
        for (const m of byMetric.values()) m.clear();
        size = 0;
      }
      k = [r.deviceId, r.metric].join(KEY_SEP); // one flat string: `+` would keep a cons string (24 B) in front of it
      inner.set(r.deviceId, k);
      size++;
    }
    return k;
  };
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

export function keying(fields: readonly FieldPath[]): Keying {
  const names = fields.map((f) => (f.startsWith('tags.') ? f.slice(5) : f));
  let keyOf: KeyFn;
  if (fields.length === 0) {
    keyOf = () => '';
  } else if (fields.length === 1 && fields[0] === 'deviceId') {
    keyOf = (r) => r.deviceId;
  } else if (fields.length === 2 && fields[0] === 'deviceId' && fields[1] === 'metric') {
    keyOf = internedPair();
  } else if (fields.length === 1) {
    const read = fieldReader(fields[0]!);
    keyOf = (r) => str(read(r));
  } else {
    const readers = fields.map(fieldReader);
    keyOf = (r) => {
      let k = str(readers[0]!(r));
      for (let i = 1; i < readers.length; i++) k += KEY_SEP + str(readers[i]!(r));
      return k;
    };
  }
  return {
    names,
    keyOf,
    toObject(key: string): KeyObject {
      const o: KeyObject = {};
      if (names.length === 0) return o;
      const parts = names.length === 1 ? [key] : key.split(KEY_SEP);
      for (let i = 0; i < names.length; i++) o[names[i]!] = parts[i] ?? '';
      return o;
    },
  };
}
