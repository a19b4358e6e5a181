/**
 * One device's way into the Ingestor: straight through while the ingest log
 * is writable, else a small FIFO backlog that waits for `drained()` (DESIGN
 * invariant 5: no unbounded queue). Frames of one device reach the log in
 * arrival order. `push` resolves once the frame's readings (or its
 * quarantine record) are durable — the moment a confirmable notification may
 * be acknowledged — and rejects when the log refuses it (storage failure)
 * or the feed closes first.
 */
import type { RawFrame } from '../ingestor.ts';
import type { CoapTarget } from './coap-device-config.ts';
import { CoapIngestError } from './coap-errors.ts';
import type { CoapSessionContext } from './coap-session-context.ts';

interface Queued {
  readonly frame: RawFrame;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class DeviceFeed {
  /** Frames of this device the ingestor quarantined. */
  quarantined = 0;
  private backlog: Queued[] = [];
  private pumping = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly target: CoapTarget, private readonly ctx: CoapSessionContext) {}

  /** True when one more frame would exceed the backlog: refuse it before changing any state. */
  get full(): boolean {
    return (this.backlog.length > 0 || !this.ctx.sink.writable) && this.backlog.length >= this.ctx.settings.maxBacklog;
  }

  get waiting(): number {
    return this.backlog.length;
  }

  /** Hands a frame on; null when the backlog is full (the caller drops or withholds the ACK). */
  push(frame: RawFrame): Promise<void> | null {
    if (this.backlog.length === 0 && this.ctx.sink.writable) return this.submit(frame);
    if (this.full) return null;
    const p = new Promise<void>((resolve, reject) => this.backlog.push({ frame, resolve, reject }));
    this.pump();
    return p;
  }

  /** Fails what is still waiting (not acknowledged), then waits for the frames already submitted. */
  async close(): Promise<void> {
    for (const q of this.backlog.splice(0)) q.reject(new CoapIngestError('E_COAP_CLOSED', this.target.deviceId, 'the CoAP ingest closed'));
    await Promise.allSettled([...this.inFlight]);
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void (async () => {
      while (this.backlog.length > 0) {
        if (!this.ctx.sink.writable) {
          await this.ctx.sink.drained();
          continue;
        }
        const q = this.backlog.shift() as Queued;
        this.submit(q.frame).then(q.resolve, q.reject);
      }
      this.pumping = false;
    })();
  }

  private submit(frame: RawFrame): Promise<void> {
    const { counters, logger } = this.ctx;
    const id = this.target.deviceId;
    const p = this.ctx.sink.submit(frame).then((outcome) => {
      if (outcome.kind === 'quarantined') {
        this.quarantined++;
        counters.quarantined++;
        logger.log('warn', 'coap payload quarantined', { deviceId: id, reason: outcome.reason, detail: outcome.detail });
      } else {
        counters.readings += outcome.readings;
      }
      this.ctx.emit('frame', id, outcome);
    }, (e: unknown) => {
      counters.submitErrors++;
      logger.log('error', 'coap frame not stored: not acknowledged', { deviceId: id, code: (e as { code?: string }).code, error: String(e) });
      throw new CoapIngestError('E_COAP_STORAGE', id, 'the ingest log refused the frame', { cause: e });
    });
    this.inFlight.add(p);
    void p.then(() => this.inFlight.delete(p), () => this.inFlight.delete(p));
    return p;
  }
}
