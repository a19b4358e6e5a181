/**
 * One CoAP device as the gateway sees it: connect (DTLS PSK handshake for
 * coaps), register an observation (RFC 7641) or poll, hand every
 * representation to the ingestor, and recover:
 *
 *   idle → connecting → registering → observing ──lost / error──┐
 *                           │  (no Observe option)               │
 *                           └──────→ polling                     │
 *   backoff ←── any failure (exponential, equal jitter) ◄────────┘
 *
 * - lost observation: no notification within the watchdog deadline (the
 *   last Max-Age plus grace, RFC 7252 §5.10.5 / RFC 7641 §3.3.1, or a fixed
 *   `lostAfterMs`) → deregister (§3.6) and register again at once;
 * - device reboot: it forgot us, so notifications stop → lost → a new
 *   registration, whose sequence of Observe numbers starts afresh (§3.4 is
 *   per registration). A rebooted device that kept its observers but
 *   restarted its numbers sends "stale" notifications: they do not re-arm
 *   the watchdog, so we register again within Max-Age + grace, and §3.4's
 *   128 s rule would take them anyway 128 s after the last fresh one;
 * - unreachable: registration or handshake timeouts → backoff, retried until
 *   it answers.
 *
 * Every callback carries the generation of the attempt that created it; a
 * callback from an abandoned attempt does nothing.
 */
import type { Timer } from '../../state/group-commit-log.ts';
import type { Logger } from '../../log.ts';
import { backoffDelay } from './backoff.ts';
import type { CoapClientPort, CoapMessage } from './coap-client-port.ts';
import { resolvePsk } from './coap-credentials.ts';
import type { CoapTarget } from './coap-device-config.ts';
import { CoapIngestError, classifyConnectFailure, isCoapIngestError } from './coap-errors.ts';
import type { CoapErrorCode } from './coap-errors.ts';
import { DeviceFeed } from './device-feed.ts';
import { ObserveOrder } from './observe-order.ts';
import { RecentMessages } from './recent-messages.ts';
import type { CoapIngestCounters, CoapSessionContext, CoapSink } from './coap-session-context.ts';

export type CoapDeviceState = 'idle' | 'connecting' | 'registering' | 'observing' | 'polling' | 'backoff' | 'closed';

export interface CoapDeviceStatus {
  readonly deviceId: string;
  readonly profile: string;
  readonly uri: string;
  readonly state: CoapDeviceState;
  readonly registrations: number;
  readonly notifications: number;
  readonly quarantined: number;
  /** Arrival time (ingest clock) of the last representation taken, or null. */
  readonly lastNotificationAt: number | null;
  /** The Observe number of the last accepted notification of the current registration. */
  readonly lastObserve: number | null;
  readonly lastError: { readonly code: CoapErrorCode; readonly message: string; readonly at: number } | null;
  /** When the next attempt is due (ingest clock), while in backoff. */
  readonly nextAttemptAt: number | null;
}

interface Registration {
  readonly order: ObserveOrder;
  readonly recent: RecentMessages;
}

const ERROR_COUNTER: Partial<Record<CoapErrorCode, keyof CoapIngestCounters>> = {
  E_COAP_AUTH: 'authFailures',
  E_COAP_TIMEOUT: 'timeouts',
  E_COAP_DTLS: 'dtlsErrors',
  E_COAP_RESPONSE: 'responseErrors',
  E_COAP_CREDENTIALS: 'credentialErrors',
};

export class CoapDeviceSession {
  private st: CoapDeviceState = 'idle';
  private gen = 0;
  private failures = 0;
  private registrations = 0;
  private notifications = 0;
  private lastAt: number | null = null;
  private lastError: CoapDeviceStatus['lastError'] = null;
  private nextAttemptAt: number | null = null;
  private reg: Registration | null = null;
  private mainTimer: unknown = null;
  private deadlineTimer: unknown = null;
  private lastPolled: Uint8Array | null = null;
  private readonly feed: DeviceFeed;
  private readonly connects = new Set<Promise<unknown>>();
  private readonly client: CoapClientPort;
  private readonly sink: CoapSink;
  private readonly timer: Timer;
  private readonly log: Logger;
  private readonly counters: CoapIngestCounters;

  constructor(readonly target: CoapTarget, private readonly ctx: CoapSessionContext) {
    this.client = ctx.client;
    this.sink = ctx.sink;
    this.timer = ctx.timer;
    this.log = ctx.logger;
    this.counters = ctx.counters;
    this.feed = new DeviceFeed(target, ctx);
  }

  get state(): CoapDeviceState {
    return this.st;
  }

  status(): CoapDeviceStatus {
    const t = this.target;
    return {
      deviceId: t.deviceId, profile: t.profile.name, uri: t.uri, state: this.st,
      registrations: this.registrations, notifications: this.notifications, quarantined: this.feed.quarantined,
      lastNotificationAt: this.lastAt, lastObserve: this.reg?.order.lastObserve ?? null,
      lastError: this.lastError, nextAttemptAt: this.st === 'backoff' ? this.nextAttemptAt : null,
    };
  }

  start(): void {
    if (this.st === 'idle') this.attempt();
  }

  /** Stops: deregisters, withholds acks of frames not yet taken, waits for those in flight, closes the connection. */
  async close(): Promise<void> {
    if (this.st === 'closed') return;
    this.gen++;
    this.clearTimers();
    this.setState('closed');
    this.client.stopObserving(this.target.uri);
    await this.feed.close();
    this.client.reset(this.target.origin); // also fails a handshake still in progress
    await Promise.allSettled([...this.connects]);
  }

  // ---- attempts ----------------------------------------------------------

  private attempt(): void {
    const g = ++this.gen;
    const t = this.target;
    this.reg = null;
    this.nextAttemptAt = null;
    this.setState('connecting');
    // A fresh connection for every retry: drops a DTLS session the device no longer has (it rebooted),
    // and whatever the library still holds for the abandoned registration.
    if (g > 1) this.client.reset(t.origin);
    if (t.secure) {
      try {
        this.client.setPsk(t.origin, resolvePsk(t.profile, t.deviceId, this.ctx.secrets), this.ctx.settings.dtls);
      } catch (e) {
        this.fail(g, isCoapIngestError(e) ? e : new CoapIngestError('E_COAP_CREDENTIALS', t.deviceId, String(e), { cause: e }));
        return;
      }
    }
    const p = this.client.connect(t.origin).then(
      () => this.connected(g),
      (e: unknown) => this.fail(g, classifyConnectFailure(t.deviceId, e)),
    );
    this.connects.add(p);
    void p.finally(() => this.connects.delete(p));
  }

  private connected(g: number): void {
    if (g !== this.gen) return;
    if (this.target.mode === 'poll') {
      this.startPolling(g, 0);
      return;
    }
    this.setState('registering');
    const reg: Registration = { order: new ObserveOrder(), recent: new RecentMessages() };
    this.reg = reg;
    const ms = this.ctx.settings.registerTimeoutMs;
    this.setDeadline(() => this.fail(g, new CoapIngestError('E_COAP_TIMEOUT', this.target.deviceId, `no response to the observe registration within ${ms} ms`)), ms);
    this.client.observe(this.target.uri, (m) => this.onMessage(g, reg, m)).catch((e: unknown) => this.fail(g, classifyConnectFailure(this.target.deviceId, e)));
  }

  private fail(g: number, err: CoapIngestError): void {
    if (g !== this.gen || this.st === 'closed') return;
    this.gen++;
    this.clearTimers();
    this.client.stopObserving(this.target.uri);
    const counter = ERROR_COUNTER[err.code];
    if (counter !== undefined) this.counters[counter]++;
    this.noteError(err);
    this.failures++;
    const delay = backoffDelay(this.failures, this.ctx.settings.backoff, this.ctx.random);
    this.nextAttemptAt = this.sink.now() + delay;
    this.log.log(err.code === 'E_COAP_AUTH' || err.code === 'E_COAP_CREDENTIALS' ? 'error' : 'warn', 'coap device unavailable', {
      deviceId: this.target.deviceId, uri: this.target.uri, code: err.code, error: err.message, failures: this.failures, retryInMs: delay,
    });
    this.setState('backoff');
    this.setMain(() => this.attempt(), delay);
  }

  private noteError(err: CoapIngestError): void {
    this.lastError = { code: err.code, message: err.message, at: this.sink.now() };
    this.ctx.emit('failure', this.target.deviceId, err);
  }

  // ---- observe -------------------------------------------------------------

  /** A response or notification. The returned promise (confirmable messages only) gates the ACK. */
  private onMessage(g: number, reg: Registration, m: CoapMessage): Promise<void> | undefined {
    if (g !== this.gen || reg !== this.reg) {
      // From an abandoned registration: not taken, so a confirmable one is not acknowledged either.
      return m.confirmable ? Promise.reject(new CoapIngestError('E_COAP_CLOSED', this.target.deviceId, 'registration abandoned')) : undefined;
    }
    const t = this.sink.now();
    const seen = m.messageId === undefined ? undefined : reg.recent.get(m.messageId);
    if (seen !== undefined && seen.state !== 'failed') {
      // RFC 7252 §4.5: a duplicate; acknowledged together with the original, once that is durable.
      this.counters.duplicates++;
      return m.confirmable ? seen.promise : undefined;
    }
    if (!m.success) {
      // RFC 7641 §3.2: a non-2.xx response ends the observation (or refuses the registration).
      this.fail(g, new CoapIngestError('E_COAP_RESPONSE', this.target.deviceId, `${this.target.uri} answered ${m.code}`));
      return undefined;
    }
    if (this.feed.full) {
      // Refused before it changes any state (§3.4 included): a confirmable one is not acknowledged,
      // so the device retransmits it later (RFC 7252 §4.2) and the copy is judged afresh.
      if (m.confirmable) {
        this.counters.ackWithheld++;
        return Promise.reject(new CoapIngestError('E_COAP_OVERLOAD', this.target.deviceId, 'backlog full: not acknowledged'));
      }
      if (this.st !== 'registering') return this.dropOverload();
    }
    if (this.st === 'registering') {
      this.clearDeadline();
      if (m.observe === undefined) {
        // RFC 7641 §3.1: no Observe option in the response: the server did not register us.
        this.client.stopObserving(this.target.uri);
        this.log.log('info', 'coap resource is not observable: polling it', { deviceId: this.target.deviceId, uri: this.target.uri, intervalMs: this.target.pollIntervalMs });
        this.lastPolled = Uint8Array.from(m.payload);
        const p = this.take(reg, m, t);
        this.startPolling(g, this.target.pollIntervalMs);
        return p;
      }
      reg.order.check(m.observe, t);
      this.registered();
    } else if (m.observe === undefined) {
      // RFC 7641 §3.2: a 2.xx without Observe is a final response: we are no longer observing. Register again.
      const p = this.take(reg, m, t);
      this.counters.lostObservations++;
      this.gen++;
      this.clearTimers();
      this.attempt();
      return p;
    } else if (seen === undefined && reg.order.check(m.observe, t) === 'stale') {
      // RFC 7641 §3.4: older than (or the same as) what we have: dropped, and acknowledged at once.
      this.counters.reordered++;
      this.log.log('debug', 'coap notification out of order: dropped', { deviceId: this.target.deviceId, observe: m.observe, last: reg.order.lastObserve });
      return undefined;
    }
    // RFC 7641 §3.3.1 / RFC 7252 §5.10.5: fresh for Max-Age (default 60 s); silence beyond it means lost.
    const s = this.ctx.settings;
    const lostMs = s.lostAfterMs ?? (m.maxAge ?? 60) * 1000 + s.lostGraceMs;
    this.setMain(() => this.lost(g, lostMs), lostMs);
    return this.take(reg, m, t);
  }

  private registered(): void {
    this.registrations++;
    this.counters.registrations++;
    if (this.registrations > 1) this.counters.reregistrations++;
    this.failures = 0;
    this.log.log('info', 'coap observation registered', { deviceId: this.target.deviceId, uri: this.target.uri, registrations: this.registrations });
    this.setState('observing');
  }

  private lost(g: number, ms: number): void {
    if (g !== this.gen) return;
    this.counters.lostObservations++;
    this.noteError(new CoapIngestError('E_COAP_LOST', this.target.deviceId, `no notification for ${ms} ms`));
    this.log.log('warn', 'coap observation lost: registering again', { deviceId: this.target.deviceId, uri: this.target.uri, silentMs: ms });
    this.gen++;
    this.clearTimers();
    this.client.stopObserving(this.target.uri); // RFC 7641 §3.6: a late notification now gets an RST
    this.attempt();
  }

  // ---- poll ----------------------------------------------------------------

  private startPolling(g: number, firstInMs: number): void {
    if (g !== this.gen) return;
    this.failures = 0;
    this.setState('polling');
    this.setMain(() => this.poll(g), firstInMs);
  }

  private poll(g: number): void {
    if (g !== this.gen) return;
    const ms = this.ctx.settings.registerTimeoutMs;
    this.setDeadline(() => this.fail(g, new CoapIngestError('E_COAP_TIMEOUT', this.target.deviceId, `no response to a poll within ${ms} ms`)), ms);
    this.client.get(this.target.uri).then((m) => {
      if (g !== this.gen) return;
      this.clearDeadline();
      if (!m.success) {
        this.fail(g, new CoapIngestError('E_COAP_RESPONSE', this.target.deviceId, `${this.target.uri} answered ${m.code}`));
        return;
      }
      this.counters.polls++;
      // A polled resource is the device's current state: the same bytes again are not a new sample.
      if (this.lastPolled !== null && Buffer.compare(this.lastPolled, m.payload) === 0) this.counters.pollUnchanged++;
      else {
        this.lastPolled = Uint8Array.from(m.payload);
        void this.take(null, m, this.sink.now())?.catch(() => {});
      }
      this.setMain(() => this.poll(g), this.target.pollIntervalMs);
    }, (e: unknown) => {
      const err = isCoded(e) ? classifyConnectFailure(this.target.deviceId, e) : new CoapIngestError('E_COAP_TIMEOUT', this.target.deviceId, `poll failed: ${String(e)}`, { cause: e });
      this.fail(g, err);
    });
  }

  // ---- into the ingestor ------------------------------------------------------

  /**
   * Takes one representation into the device's feed. A full backlog refuses
   * it: confirmable ones were already refused in onMessage (not acknowledged,
   * so the device retransmits them); a non-confirmable one is dropped, counted.
   */
  private take(reg: Registration | null, m: CoapMessage, t: number): Promise<void> | undefined {
    const p = this.feed.push({
      transport: 'coap', topicOrUri: this.target.uri, deviceId: this.target.deviceId, profile: this.target.profile,
      payload: m.payload, arrivalTime: t,
    });
    if (p === null) return this.dropOverload();
    this.notifications++;
    this.counters.notifications++;
    this.lastAt = t;
    if (reg !== null && m.messageId !== undefined) reg.recent.remember(m.messageId, p);
    p.catch(() => {}); // counted and logged by the feed; the library sees a rejection through the returned promise
    return m.confirmable ? p : undefined;
  }

  private dropOverload(): undefined {
    this.counters.droppedOverload++;
    this.log.log('warn', 'coap notification dropped: the ingest log is behind', { deviceId: this.target.deviceId, backlog: this.feed.waiting });
    return undefined;
  }

  // ---- plumbing ---------------------------------------------------------------

  private setState(s: CoapDeviceState): void {
    if (this.st === s) return;
    this.st = s;
    this.ctx.emit('state', this.target.deviceId, s);
  }

  private setMain(fn: () => void, ms: number): void {
    if (this.mainTimer !== null) this.timer.clear(this.mainTimer);
    this.mainTimer = this.timer.set(() => {
      this.mainTimer = null;
      fn();
    }, ms);
  }

  private setDeadline(fn: () => void, ms: number): void {
    this.clearDeadline();
    this.deadlineTimer = this.timer.set(() => {
      this.deadlineTimer = null;
      fn();
    }, ms);
  }

  private clearDeadline(): void {
    if (this.deadlineTimer !== null) this.timer.clear(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  private clearTimers(): void {
    this.clearDeadline();
    if (this.mainTimer !== null) this.timer.clear(this.mainTimer);
    this.mainTimer = null;
  }
}

function isCoded(e: unknown): boolean {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string';
}
