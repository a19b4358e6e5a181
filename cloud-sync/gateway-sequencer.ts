import { WireError } from './protocol.ts';

/**
 * Orders one gateway's ingests inside one service instance. A gateway may
 * keep two batches in flight (the uplink's pipelining) on two connections,
 * and the second can reach storage before the first: it would be refused
 * with E_SEQ_GAP. Here each gateway's ingests run one after another, and
 * one refused with E_SEQ_GAP while another of the same gateway is queued
 * behind it runs again after that one. Across instances (a load balancer
 * that spreads one gateway's connections) the gateway simply resends after
 * E_SEQ_GAP, as always; this only saves the round trip.
 */
export class GatewaySequencer {
  private readonly tails = new Map<number, Promise<unknown>>();
  private readonly queued = new Map<number, number>();

  run<T>(gatewayId: number, fn: () => Promise<T>, retries = 3): Promise<T> {
    const prev = this.tails.get(gatewayId) ?? Promise.resolve();
    const mine = prev.then(fn, fn);
    const tail = mine.then(() => undefined, () => undefined);
    this.tails.set(gatewayId, tail);
    this.queued.set(gatewayId, (this.queued.get(gatewayId) ?? 0) + 1);
    const done = (): void => {
      const n = (this.queued.get(gatewayId) ?? 1) - 1;
      if (n > 0) this.queued.set(gatewayId, n);
      else {
        this.queued.delete(gatewayId);
        if (this.tails.get(gatewayId) === tail) this.tails.delete(gatewayId);
      }
    };
    return mine.then((v) => {
      done();
      return v;
    }, (e: unknown) => {
      const others = (this.queued.get(gatewayId) ?? 1) - 1;
      done();
      if (e instanceof WireError && e.code === 'E_SEQ_GAP' && others > 0 && retries > 0) return this.run(gatewayId, fn, retries - 1);
      throw e;
    });
  }

  /** Gateways with ingests queued or running (for tests). */
  get active(): number {
    return this.queued.size;
  }
}
