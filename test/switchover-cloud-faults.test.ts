/**
 * Switchover test 4, over real processes: while the gateway uploads, the
 * cloud answers 500, 429 (Retry-After) and 503, and the cloud-sync process
 * is restarted twice — SIGKILLed with a batch on its way to it, and stopped
 * gracefully (SIGTERM) with another on its way. The gateway is never
 * disturbed, so nothing may differ from an undisturbed run: the cloud ends
 * with exactly the results the pipelines give for the seeded input, every
 * outbox seq stored once, none skipped.
 *
 * The answers are injected by an HTTP proxy between the gateway's uplink
 * and the cloud process (test/support/http-fault-proxy.ts); the restarts
 * are real: the same `weir-cloud serve` on the same port and database.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordFleet, referenceOutputs, SWITCHOVER_FLEET } from './support/seeded-input.ts';
import { SwitchoverRun } from './support/switchover-run.ts';
import { diffResults, resultSetOf } from './support/cloud-view.ts';
import { HttpFaultProxy, type HttpFault } from './support/http-fault-proxy.ts';

const input = recordFleet(SWITCHOVER_FLEET);
const reference = resultSetOf(referenceOutputs(input.readings));

test('cloud-sync restarts and 500/429/503 answers during the upload: the cloud ends with exactly the undisturbed results, each seq once', { timeout: 120_000 }, async (t) => {
  let proxy: HttpFaultProxy | null = null;
  // Paced (60 messages per gateway checkpoint) and in batches of at most 50 records, so there are many uploads,
  // spread over seconds, for the faults to land among.
  const run = await SwitchoverRun.start(input.readings, { perCheckpoint: 60, cloud: { batch: { maxRecords: 50, maxAge: '100ms' } }, uplinkVia: async (c) => (proxy = await HttpFaultProxy.start(c)).port });
  const p = proxy!;
  try {
    const faults: Record<number, HttpFault> = {
      2: { status: 500 },
      3: { status: 429, retryAfter: '1' },
      5: { hold: 'request' }, // → the cloud is SIGKILLed with this batch on its way
      8: { status: 503, retryAfter: '1' },
      10: { hold: 'request' }, // → the cloud stops gracefully (SIGTERM) with this batch on its way
      12: { status: 500 },
    };
    p.rule = (n) => faults[n] ?? null;
    const { cloud } = run.stack;
    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      const held = await p.nextHeld();
      if (signal === 'SIGKILL') cloud.kill('SIGKILL');
      else await cloud.stop({ graceMs: 15_000 });
      await cloud.exited;
      held.release(); // the cloud is gone: the proxy drops the gateway's connection, as a dead server would
      await cloud.start(); // same port, same database
      t.diagnostic(`cloud ${signal === 'SIGKILL' ? 'SIGKILLed' : 'stopped'} and restarted with batch #${held.n} on its way; ${run.publisher.ackedCount}/${run.publisher.messages.length} messages acked`);
    }
    await run.publisher.until(() => run.publisher.done, 'every message acknowledged', 90_000);
    await run.drained();
    const got = await run.finish();

    assert.deepEqual(diffResults(reference, got), [], 'exactly the results of the undisturbed run');
    assert.equal(got.gateway.contiguousSeq, got.gateway.highestSeq);
    assert.equal(got.gateway.contiguousSeq, got.counts.records, 'every seq stored exactly once');
    assert.equal(got.counts.skips, 0, 'no seq skipped (nothing was degraded or dropped)');

    // The faults happened, and the uplink dealt with each as the protocol says.
    const tally = p.tally();
    t.diagnostic(`answers seen by the gateway: ${JSON.stringify(tally)}`);
    for (const k of ['/v1/batches 500', '/v1/batches 429', '/v1/batches 503', '/v1/batches 0']) assert.ok((tally[k] ?? 0) >= 1, `${k} happened`);
    const failures = run.stack.gateway.lines.filter((l) => l.msg === 'uplink: request failed; retrying').map((l) => l.json!);
    // (With two batches in flight, a failure of the second can arrive while the first one's is being handled; the
    // uplink then logs one failure for both — so not every answer the proxy tallied has its own log line.)
    const retryAfter = failures.filter((f) => f.status === 429 || f.status === 503);
    assert.ok(retryAfter.every((f) => f.delayMs === 1000), `429/503 waited the Retry-After: ${JSON.stringify(retryAfter)}`);
    assert.ok(failures.some((f) => f.status === 500 || f.status === 429 || f.status === 503), 'error answers were retried');
  } finally {
    await run.dispose();
    await p.close();
  }
});
