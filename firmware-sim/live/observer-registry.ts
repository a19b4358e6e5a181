/**
 * The observer list of one CoAP resource (RFC 7641), kept by the simulated
 * device itself because `coap` 1.5 never ends the observe streams of
 * clients that went away. Pure bookkeeping with an injected clock; the
 * server (coap-device-server.ts) feeds it the ACKs and RSTs it sees.
 *
 * Rules enforced here:
 * - RFC 7641 §4.1: a registration from the same endpoint with the same token
 *   replaces the existing entry.
 * - RFC 7641 §3.6 / §4.5: an RST in reply to a notification removes the observer.
 * - RFC 7641 §4.5: a notification is sent confirmable at least every
 *   `confirmEveryMs` (the RFC requires at least once per 24 h; we check far
 *   more often); an observer that does not acknowledge a confirmable
 *   notification within `ackTimeoutMs` is removed.
 * - Bounded: at most `maxObservers`; the longest-registered is dropped first.
 */

export interface ObserverPolicy {
  readonly confirmEveryMs: number;
  readonly ackTimeoutMs: number;
  readonly maxObservers: number;
}

export const DEFAULT_OBSERVER_POLICY: ObserverPolicy = { confirmEveryMs: 30_000, ackTimeoutMs: 10_000, maxObservers: 16 };

interface Entry<H> {
  readonly key: string;
  readonly handle: H;
  readonly registeredAt: number;
  lastConfirmableAt: number;
  /** Oldest confirmable notification not yet acknowledged. */
  pendingSince: number | null;
  /** Message IDs of recent notifications (so an ACK or RST can be matched). */
  readonly mids: number[];
}

const MIDS_KEPT = 8;

export class ObserverRegistry<H> {
  private readonly entries = new Map<string, Entry<H>>();
  private readonly byMid = new Map<number, string>();
  private nextMid: number;

  constructor(private readonly policy: ObserverPolicy, private readonly now: () => number, firstMid: number) {
    this.nextMid = firstMid & 0xffff;
  }

  get size(): number {
    return this.entries.size;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  list(): [string, H][] {
    return [...this.entries.values()].map((e) => [e.key, e.handle]);
  }

  handles(): H[] {
    return [...this.entries.values()].map((e) => e.handle);
  }

  /** Registers an observer; returns handles that are no longer observers (replaced or pushed out). */
  add(key: string, handle: H): H[] {
    const gone: H[] = [];
    const old = this.entries.get(key);
    if (old !== undefined) gone.push(this.drop(old)); // §4.1 re-registration replaces
    while (this.entries.size >= this.policy.maxObservers) {
      const oldest = this.entries.values().next().value as Entry<H>;
      gone.push(this.drop(oldest));
    }
    const t = this.now();
    // The first notification after registration is the response itself; count registration as confirmed contact.
    this.entries.set(key, { key, handle, registeredAt: t, lastConfirmableAt: t, pendingSince: null, mids: [] });
    return gone;
  }

  /** Removes an observer (deregistration, stream ended); returns its handle if it was registered. */
  remove(key: string): H | null {
    const e = this.entries.get(key);
    return e === undefined ? null : this.drop(e);
  }

  /** How the next notification to `key` goes out, and with which message ID. */
  nextNotification(key: string, confirmableByDefault: boolean): { confirmable: boolean; messageId: number } | null {
    const e = this.entries.get(key);
    if (e === undefined) return null;
    const t = this.now();
    const confirmable = confirmableByDefault || t - e.lastConfirmableAt >= this.policy.confirmEveryMs;
    const messageId = this.nextMid;
    this.nextMid = (this.nextMid + 1) & 0xffff;
    e.mids.push(messageId);
    this.byMid.set(messageId, key); // after a 16-bit wrap an old ID simply re-points here
    if (e.mids.length > MIDS_KEPT) {
      const old = e.mids.shift() as number;
      if (this.byMid.get(old) === key) this.byMid.delete(old);
    }
    if (confirmable) {
      e.lastConfirmableAt = t;
      if (e.pendingSince === null) e.pendingSince = t;
    }
    return { confirmable, messageId };
  }

  /** An empty ACK arrived for message ID `mid`. */
  onAck(mid: number): void {
    const key = this.byMid.get(mid);
    const e = key === undefined ? undefined : this.entries.get(key);
    if (e !== undefined) e.pendingSince = null;
  }

  /** An RST arrived for `mid`: the client no longer wants notifications. Returns the removed handle. */
  onReset(mid: number): H | null {
    const key = this.byMid.get(mid);
    return key === undefined ? null : this.remove(key);
  }

  /** Removes observers whose confirmable notification went unacknowledged too long; returns them. */
  sweep(): H[] {
    const t = this.now();
    const gone: H[] = [];
    for (const e of [...this.entries.values()]) {
      if (e.pendingSince !== null && t - e.pendingSince >= this.policy.ackTimeoutMs) gone.push(this.drop(e));
    }
    return gone;
  }

  private drop(e: Entry<H>): H {
    this.entries.delete(e.key);
    for (const mid of e.mids) if (this.byMid.get(mid) === e.key) this.byMid.delete(mid);
    return e.handle;
  }
}
