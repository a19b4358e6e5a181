/**
 * Structured logs, one JSON object per line (the shape of edge-runtime's
 * logger; cloud-sync does not import edge-runtime/). Never log credentials:
 * callers pass gateway names and error codes, never headers or tokens.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(opts: { level?: LogLevel; write?: (line: string) => void; now?: () => number } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((l: string) => process.stderr.write(l));
  const now = opts.now ?? Date.now;
  return {
    log(level, msg, fields) {
      if (ORDER[level] < min) return;
      write(JSON.stringify({ t: new Date(now()).toISOString(), level, msg, ...fields }) + '\n');
    },
  };
}

export const silentLogger: Logger = { log() {} };

export function memoryLogger(): Logger & { entries: { level: LogLevel; msg: string; fields?: Record<string, unknown> }[] } {
  const entries: { level: LogLevel; msg: string; fields?: Record<string, unknown> }[] = [];
  return { entries, log: (level, msg, fields) => void entries.push({ level, msg, ...(fields ? { fields } : {}) }) };
}
