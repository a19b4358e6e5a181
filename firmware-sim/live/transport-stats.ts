/** Counters of a live transport. */
export class TransportStats {
  connects = 0;
  failedConnects = 0;
  linksLost = 0;
  errors = 0;
  published = 0;
  publishErrors = 0;
  /** QoS 1 messages handed back to the device buffer because their link dropped before the PUBACK. */
  requeued = 0;
  /** Publishes handed to the client whose callback has not run yet. */
  pending = 0;
  /** CoAP: notifications sent, observers registered / expired. */
  notifications = 0;
  observers = 0;
  observersExpired = 0;
  /** CoAP: samples with nobody observing. */
  unobserved = 0;
}

/**
 * Publishes one device message and keeps the counters: a QoS 1 message whose
 * link dropped before its PUBACK goes back to the device (`onUnacked`), as
 * firmware does; a failed QoS 0 publish is only counted.
 */
export function publishCounted(
  client: { publish(topic: string, payload: Buffer, opts: { qos: 0 | 1 }, cb: (err?: Error) => void): unknown },
  topic: string,
  payload: Uint8Array,
  qos: 0 | 1,
  stats: TransportStats,
  onUnacked: () => void,
): void {
  stats.pending++;
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  client.publish(topic, buf, { qos }, (err) => {
    stats.pending--;
    if (!err) stats.published++;
    else if (qos === 1) {
      stats.requeued++;
      onUnacked();
    } else stats.publishErrors++;
  });
}
