/** Counters of one simulation run; printed as the run summary. */
import type { FaultKind } from './faults.ts';

interface Delivered {
  readonly readings: readonly unknown[];
  readonly malformed: string | null;
  readonly replayed: boolean;
}

export class FleetStats {
  samples = 0;
  /** Readings measured and put into a message (malformed or not). */
  readings = 0;
  messagesSent = 0;
  readingsSent = 0;
  malformedMessages = 0;
  /** Readings that were inside a malformed message, so the gateway cannot read them. */
  readingsInMalformed = 0;
  replayedMessages = 0;
  bufferedMessages = 0;
  bufferDrops = 0;
  readingsDroppedFromBuffer = 0;
  /** Unacknowledged QoS 1 messages taken back for another send. */
  requeued = 0;
  outages = 0;
  storms = 0;
  connectAttempts = 0;
  failedAttempts = 0;
  connects = 0;
  readonly labels: Partial<Record<FaultKind, number>> = {};

  delivered(msg: Delivered): void {
    this.messagesSent++;
    if (msg.replayed) this.replayedMessages++;
    if (msg.malformed !== null) {
      this.malformedMessages++;
      this.readingsInMalformed += msg.readings.length;
    } else {
      this.readingsSent += msg.readings.length;
    }
  }

  label(kind: FaultKind): void {
    this.labels[kind] = (this.labels[kind] ?? 0) + 1;
  }

  toJSON(): Record<string, unknown> {
    return Object.fromEntries(Object.entries(this));
  }
}
