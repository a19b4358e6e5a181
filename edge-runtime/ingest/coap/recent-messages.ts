/**
 * Message deduplication for one observation, RFC 7252 §4.5: a confirmable
 * message whose ACK was lost (or not yet sent) is retransmitted with the
 * same message ID. The copy must be acknowledged like the original — here,
 * when the original's reading is durable — and must not be taken twice.
 * A copy of a message we failed to take (storage refused it) is taken anew.
 * Bounded: the last `limit` message IDs.
 */
export type Delivery = { readonly state: 'pending' | 'done' | 'failed'; readonly promise: Promise<void> };

export class RecentMessages {
  private readonly seen = new Map<number, { state: 'pending' | 'done' | 'failed'; promise: Promise<void> }>();

  constructor(private readonly limit = 64) {}

  get(messageId: number): Delivery | undefined {
    return this.seen.get(messageId);
  }

  remember(messageId: number, promise: Promise<void>): void {
    const entry: { state: 'pending' | 'done' | 'failed'; promise: Promise<void> } = { state: 'pending', promise };
    this.seen.delete(messageId);
    this.seen.set(messageId, entry);
    if (this.seen.size > this.limit) this.seen.delete(this.seen.keys().next().value as number);
    promise.then(
      () => void (entry.state = 'done'),
      () => void (entry.state = 'failed'),
    );
  }
}
