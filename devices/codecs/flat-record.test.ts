/**
 * fromFlat decodes a lone plain-object sample on a path of its own (no intermediate objects): it must
 * give what the general path gives for the same sample inside an array — readings, or the error code
 * and the field it names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../errors.ts';
import { fromFlat } from './flat-record.ts';
import type { DecodeContext } from '../codec.ts';

function outcome(parsed: unknown, ctx: DecodeContext): unknown {
  try {
    return fromFlat(parsed, ctx);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { code: e.code, field: e.path.replace(/^\[0\]\.?/, '') };
  }
}

test('a lone sample decodes as the same sample in an array does', () => {
  const samples: Record<string, unknown>[] = [
    { ts: 1000, temperature: 21.5, humidity: 40 },
    { temperature: 21.5, ts: 0 },
    { ts: -0, t: 1 },
    { ts: 1000 },
    { ts: -1, temperature: 1 },
    { ts: '1000', temperature: 1 },
    { ts: 1000, temperature: 'warm' },
    { temperature: null, ts: Number.NaN },
    { temperature: 1 },
    { ts: 1000, temperature: Number.POSITIVE_INFINITY },
    { ts: 1000, deviceId: 'env-0001', temperature: 1 },
    { ts: 1000, deviceId: 'env-0002', temperature: 1 },
    { deviceId: '', ts: 1000, temperature: 1 },
    JSON.parse('{"__proto__": 5, "ts": 1000}') as Record<string, unknown>,
    {},
  ];
  const contexts: DecodeContext[] = [{ deviceId: 'env-0001', timeField: 'ts' }, { deviceId: 'env-0001' }, { timeField: 'ts' }];
  for (const ctx of contexts) {
    for (const s of samples) assert.deepEqual(outcome(s, ctx), outcome([s], ctx), `${JSON.stringify(s)} with ${JSON.stringify(ctx)}`);
  }
});
