/**
 * Errors of the service that are not answers on the wire (those are
 * WireError, protocol.ts): configuration, storage, the CLI. Stable codes;
 * callers switch on `code`, never on message text.
 */
export type CloudErrorCode =
  | 'E_CONFIG'               // options or environment are wrong (e.g. a bad DATABASE_URL)
  | 'E_USAGE'                // the command line is wrong
  | 'E_EXISTS'               // a gateway or reader of that name exists already
  | 'E_NO_SUCH_GATEWAY'      // a CLI command named a gateway that does not exist
  | 'E_STORAGE'              // the database failed (unreachable, I/O); answered as 503 E_UNAVAILABLE
  | 'E_STORAGE_SCHEMA_NEWER';// the database was migrated by a newer build; refused, left untouched

export class CloudError extends Error {
  readonly code: CloudErrorCode;
  constructor(code: CloudErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CloudError';
  }
}

export function isCloudError(e: unknown): e is CloudError {
  return e instanceof CloudError;
}
