/**
 * Logs per message kind at most `burst` entries per `intervalMs`; what is
 * held back is counted and reported with the next entry of that kind that
 * gets through (`suppressed`). A misbehaving client (or a thousand) cannot
 * flood the gateway's log; the counters still see every event.
 */
import type { Logger, LogLevel } from '../../log.ts';

export class LogLimiter {
  private readonly windows = new Map<string, { start: number; used: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly burst = 10,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    const t = this.now();
    let w = this.windows.get(msg);
    if (w === undefined || t - w.start >= this.intervalMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: t, used: 0, suppressed: 0 };
      this.windows.set(msg, w);
      if (suppressed > 0) fields = { ...fields, suppressed };
    }
    if (w.used >= this.burst) {
      w.suppressed++;
      return;
    }
    w.used++;
    this.logger.log(level, msg, fields);
  }
}
