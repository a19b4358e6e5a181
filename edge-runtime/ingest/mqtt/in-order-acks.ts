/**
 * Releases acknowledgements in the order their messages arrived, whatever
 * order they became durable in: a good reading is durable after its group
 * commit, a bad one after its quarantine batch, and the two can finish in
 * either order. MQTT wants acks in order: [MQTT-4.6.0-2] PUBACK and
 * [MQTT-4.6.0-3] PUBREC "in the order in which the corresponding PUBLISH
 * packets were received".
 *
 * One instance per connection. `add()` when a message arrives, `complete()`
 * when it is durable (or failed): every completed entry at the head runs its
 * release, in order.
 */
export interface PendingAck<R> {
  done: boolean;
  result: R | undefined;
  readonly release: (result: R) => void;
}

export class InOrderAcks<R> {
  private queue: PendingAck<R>[] = [];
  private head = 0;

  /** Acks waiting for their message, or for an earlier one, to be durable. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  add(release: (result: R) => void): PendingAck<R> {
    const p: PendingAck<R> = { done: false, result: undefined, release };
    this.queue.push(p);
    return p;
  }

  complete(p: PendingAck<R>, result: R): void {
    p.done = true;
    p.result = result;
    while (this.head < this.queue.length && this.queue[this.head]!.done) {
      const h = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as PendingAck<R>; // let it be collected
      h.release(h.result as R);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets every pending ack (the connection is gone): nothing is released. */
  clear(): void {
    this.queue = [];
    this.head = 0;
  }
}
