/**
 * One run of the switchover tests: a whole weir stack (cloud-sync, gateway
 * — real child processes on 127.0.0.1, edge-runtime/demo/stack.ts) with no
 * simulator, fed by a ReadingPublisher with a seeded recording, plus the
 * waits every test needs: until the gateway processed and checkpointed
 * everything acknowledged, until the cloud acknowledged every outbox row.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stack, StackOptions } from '../../edge-runtime/demo/stack.ts';
import { Metrics } from '../../edge-runtime/demo/prom-text.ts';
import { isProbe, startHookedStack } from './gateway-hooks.ts';
import { ReadingPublisher, toMessages } from './reading-publisher.ts';
import { SWITCHOVER_PIPELINES, type RecordedReading } from './seeded-input.ts';
import { readCloud, type CloudContents } from './cloud-view.ts';

export interface RunOptions extends Partial<Omit<StackOptions, 'dir'>> {
  /** Messages in flight per connection (default 32). */
  readonly window?: number;
  /** Only messages [0, n) are published until `publisher.publishUpTo` moves on. */
  readonly limit?: number;
  /** Pacing: this many more messages may go out at each checkpoint the gateway begins (default: no pacing). */
  readonly perCheckpoint?: number;
  /** Extra environment for the children from their first start (test hooks, e.g. WEIR_TEST_KILL). */
  readonly hooksEnv?: Readonly<Record<string, string>>;
}

export class SwitchoverRun {
  private constructor(readonly stack: Stack, readonly publisher: ReadingPublisher, readonly dir: string, private readonly keep: boolean) {}

  /** Starts the stack (anonymous MQTT, the switchover pipelines, 200 ms checkpoints) and the publisher. */
  static async start(readings: readonly RecordedReading[], o: RunOptions = {}): Promise<SwitchoverRun> {
    const dir = mkdtempSync(join(tmpdir(), 'weir-switchover-'));
    const { window, limit, perCheckpoint, hooksEnv, ...stackOpts } = o;
    let stack: Stack;
    try {
      stack = await startHookedStack({
        sim: null,
        mqttAuth: 'anonymous',
        pipelines: SWITCHOVER_PIPELINES,
        checkpointInterval: '200ms',
        logLevel: 'info',
        ...stackOpts,
        cloud: { batch: { maxRecords: 100, maxAge: '100ms' }, ...stackOpts.cloud },
        // Readings outside a profile's physical range go to the pipelines (the reference sees them too).
        gatewayConfig: { ingest: { outOfRange: 'pass' }, ...stackOpts.gatewayConfig },
        dir,
      }, hooksEnv);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const first = perCheckpoint ?? limit;
    const publisher = new ReadingPublisher(stack.urls.broker, toMessages(readings), { window: window ?? 32, ...(first !== undefined ? { limit: first } : {}) });
    if (perCheckpoint !== undefined) {
      // Event-driven pacing: the stream is spread over many checkpoints (and so over kills), whatever the machine's speed.
      let allowed = perCheckpoint;
      stack.gateway.onLine((l) => {
        if (isProbe('checkpoint-begin')(l)) publisher.publishUpTo((allowed += perCheckpoint));
      });
    }
    publisher.start();
    return new SwitchoverRun(stack, publisher, dir, process.env.WEIR_TEST_KEEP === '1');
  }

  /**
   * Waits until every acknowledged reading went through the pipelines into
   * a committed checkpoint (two checkpoints after the last PUBACK: a PUBACK
   * is sent once the reading is durable, and the runtime processes a
   * committed segment before the next checkpoint captures its outputs), and
   * the uplink delivered every outbox row.
   */
  async drained(timeoutMs = 60_000): Promise<void> {
    const c0 = (await this.stack.metrics()).sum('weir_checkpoints_total');
    await this.stack.untilMetrics((m) => m.sum('weir_checkpoints_total') >= c0 + 2 && m.sum('weir_outbox_rows') === 0,
      { timeoutMs, what: 'two more checkpoints and an empty outbox' });
    await this.stack.until(async () => {
      const g = await this.stack.cloudGateway();
      return g.contiguousSeq === g.highestSeq ? g : null;
    }, { timeoutMs, what: 'the cloud to hold every seq contiguously' });
  }

  /** One scrape of the cloud's /metrics (counters since the cloud process started). */
  async cloudMetrics(): Promise<Metrics> {
    const res = await fetch(`${this.stack.urls.cloud}/metrics`, { signal: AbortSignal.timeout(5000) });
    return Metrics.parse(await res.text());
  }

  /** Stops the publisher and the stack (gateway with its final checkpoint), then reads what the cloud holds. */
  async finish(): Promise<CloudContents> {
    await this.publisher.stop();
    await this.stack.stop();
    return readCloud(this.stack.files.cloudDb, this.stack.gatewayId);
  }

  /** Stops everything and removes the work dir (kept when WEIR_TEST_KEEP=1, for its logs). */
  async dispose(): Promise<void> {
    await this.publisher.stop();
    await this.stack.stop({ drainMs: 0 });
    if (!this.keep) rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${this.dir}\n`);
  }
}
