/**
 * Every error weir raises on purpose has a stable code. Callers switch on
 * `code`, never on message text. Pass `{ cause }` when wrapping.
 */
export type WeirErrorCode =
  | 'E_CONFIG'          // a pipeline or config file is wrong; `field` names where
  | 'E_INPUT_PARSE'     // a replay input line is malformed
  | 'E_INPUT_RECORD'    // a replay input line parsed but is not a valid reading
  | 'E_IO'              // a file could not be read or written
  | 'E_USAGE'           // the command line is wrong
  | 'E_STATE_VERSION';  // persisted state has an unknown version or shape

export class WeirError extends Error {
  readonly code: WeirErrorCode;
  constructor(code: WeirErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'WeirError';
  }
}

/** A configuration error that names the offending field by path, e.g. `pipelines[0].window.size`. */
export class ConfigError extends WeirError {
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('E_CONFIG', `${field}: ${message}`, options);
    this.field = field;
    this.name = 'ConfigError';
  }
}

export class InputError extends WeirError {
  readonly line: number;
  constructor(code: 'E_INPUT_PARSE' | 'E_INPUT_RECORD', line: number, message: string, options?: { cause?: unknown }) {
    super(code, `line ${line}: ${message}`, options);
    this.line = line;
    this.name = 'InputError';
  }
}

export function isWeirError(e: unknown): e is WeirError {
  return e instanceof WeirError;
}
