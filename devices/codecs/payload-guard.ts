/** Checks shared by every codec before it looks at the bytes. */
import { DEFAULT_MAX_BYTES } from '../codec.ts';
import type { DecodeContext } from '../codec.ts';
import { DecodeError } from '../errors.ts';

export function checkSize(bytes: Uint8Array, ctx: DecodeContext): void {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('E_DECODE_SIZE', '', 'payload is not bytes');
  const max = ctx.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length === 0) throw new DecodeError('E_DECODE_SIZE', '', 'empty payload');
  if (bytes.length > max) throw new DecodeError('E_DECODE_SIZE', '', `payload of ${bytes.length} bytes exceeds ${max}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 JSON text → value (RFC 8259 §8.1: JSON exchanged between systems is UTF-8). */
export function parseJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (e) {
    throw new DecodeError('E_DECODE_JSON', '', 'payload is not valid UTF-8', { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new DecodeError('E_DECODE_JSON', '', 'payload is not valid JSON', { cause: e });
  }
}

export function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * Runs a decode step and keeps the codec contract: whatever goes wrong
 * surfaces as a DecodeError. Unexpected exceptions from a parser library are
 * wrapped (code E_DECODE_FIELD) instead of escaping as another type.
 */
export function guardDecode<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError('E_DECODE_FIELD', '', 'payload could not be interpreted', { cause: e });
  }
}
