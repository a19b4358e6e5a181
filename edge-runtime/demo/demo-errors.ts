/** Errors of the stack and `weir demo`, with stable codes (callers switch on `code`, never on the text). */
export type DemoErrorCode =
  | 'E_DEMO_PROVISION'     // creating the cloud's tokens failed
  | 'E_DEMO_CHILD_EXITED'  // a child process exited while something waited on it
  | 'E_DEMO_TIMEOUT'       // a condition did not hold in time
  | 'E_DEMO_HTTP'          // the gateway's /metrics or the cloud's API answered with an error
  | 'E_DEMO_DIR';          // the work dir holds something else: not wiped

export class DemoError extends Error {
  readonly code: DemoErrorCode;
  constructor(code: DemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'DemoError';
  }
}
