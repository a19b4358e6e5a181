/**
 * Errors raised by `devices/`. Every one has a stable `code`; callers switch
 * on `code`, never on message text. `devices/` imports nothing from the
 * runtime (DESIGN.md "Dependency direction"), so it keeps its own classes.
 */

/** Why a payload could not be decoded. The gateway quarantines by this code. */
export type DecodeErrorCode =
  | 'E_DECODE_SIZE'       // payload is empty or larger than the configured limit
  | 'E_DECODE_JSON'       // bytes are not UTF-8 JSON
  | 'E_DECODE_CBOR'       // bytes are not one well-formed CBOR data item
  | 'E_DECODE_SENML'      // parses, but breaks an RFC 8428 rule
  | 'E_DECODE_FIELD'      // parses, but a field is missing, of the wrong type or unknown
  | 'E_DECODE_NONFINITE'; // a value or time is NaN or ±Infinity

export class DecodeError extends Error {
  readonly code: DecodeErrorCode;
  /** Where in the payload, e.g. `[2].v` or `temperature`; empty for the whole payload. */
  readonly path: string;
  constructor(code: DecodeErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(path === '' ? message : `${path}: ${message}`, options);
    this.code = code;
    this.path = path;
    this.name = 'DecodeError';
  }
}

/** The readings handed to `encode` cannot be represented (a bug in the caller, not bad input). */
export class EncodeError extends Error {
  readonly code = 'E_ENCODE' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EncodeError';
  }
}

/** A device profile is invalid; `field` names the offending field by path, e.g. `profiles[2].metrics.temperature.range`. */
export class ProfileError extends Error {
  readonly code = 'E_PROFILE' as const;
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.field = field;
    this.name = 'ProfileError';
  }
}

export function isDecodeError(e: unknown): e is DecodeError {
  return e instanceof DecodeError;
}
