/**
 * Follows the MQTT framing of one connection's inbound bytes, chunk by chunk,
 * and reports the first packet whose announced size exceeds a limit, before
 * its body arrives. aedes' parser would otherwise buffer a packet of up to
 * 256 MiB (the largest Remaining Length, [MQTT-2.2.3]) before looking at it.
 *
 * Fixed header (MQTT 3.1.1 §2.2): one byte of type and flags, then the
 * Remaining Length as a variable byte integer of one to four bytes, 7 bits
 * each, least significant first, bit 7 = more bytes follow.
 */
export type GuardVerdict = 'ok' | 'too-large' | 'malformed';

/** Where in a packet the next byte falls. */
const HEADER = 0;
const LENGTH = 1;
const BODY = 2;
type Phase = typeof HEADER | typeof LENGTH | typeof BODY;

export class PacketSizeGuard {
  private phase: Phase = HEADER;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  private verdict: GuardVerdict = 'ok';

  /** `maxPacketBytes`: the largest whole packet (fixed header included) let through. */
  constructor(private readonly maxPacketBytes: number) {}

  /** Scans the next chunk. Once not 'ok', the verdict sticks (the connection is to be closed). */
  push(chunk: Uint8Array): GuardVerdict {
    if (this.verdict !== 'ok') return this.verdict;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.phase) {
        case HEADER:
          i++;
          this.phase = LENGTH;
          this.length = 0;
          this.multiplier = 1;
          this.lengthBytes = 0;
          break;
        case LENGTH: {
          const b = chunk[i++]!;
          this.length += (b & 0x7f) * this.multiplier;
          this.multiplier *= 128;
          this.lengthBytes++;
          if ((b & 0x80) !== 0) {
            if (this.lengthBytes === 4) return (this.verdict = 'malformed'); // [MQTT-2.2.3] at most four bytes
            break;
          }
          if (1 + this.lengthBytes + this.length > this.maxPacketBytes) return (this.verdict = 'too-large');
          this.remaining = this.length;
          this.phase = this.remaining === 0 ? HEADER : BODY;
          break;
        }
        case BODY: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.phase = HEADER;
          break;
        }
      }
    }
    return 'ok';
  }
}
