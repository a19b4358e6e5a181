/** Errors the simulator raises on purpose; callers switch on `code`. */
export type SimErrorCode =
  | 'E_SIM_USAGE'    // the command line is wrong
  | 'E_SIM_CONFIG'   // a profile or fleet setting cannot be simulated
  | 'E_SIM_IO'       // an output file could not be written
  | 'E_SIM_NETWORK'  // a broker or socket could not be reached
  | 'E_SIM_INTERNAL'; // an invariant of the simulator broke: a bug, not bad input

export class SimError extends Error {
  readonly code: SimErrorCode;
  constructor(code: SimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SimError';
  }
}
