/**
 * Switchover test 7, over real processes: a gateway dies with its disk
 * (SIGKILL, state directory deleted) in the middle of the seeded stream.
 * The replacement gets a new cloud token (`weir-cloud gateway token`),
 * restores the dead gateway's latest checkpoint snapshot from the cloud
 * (`weir restore --from-cloud`), starts, and takes the rest of the stream.
 *
 * Same state: the windows open at the switchover (every device's current
 * minute, the watermark, the detectors) continue from the snapshot, so the
 * cloud ends with exactly the results of an undisturbed run. New seqs: the
 * replacement's outbox starts right after everything the cloud holds, no
 * seq is issued twice, none is missing.
 *
 * The first half is delivered and snapshotted before the death (everything
 * a gateway had not uploaded when its disk died is lost with it — that
 * window of risk is the snapshot interval plus the upload lag, and is not
 * what this test is about).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { recordFleet, referenceOutputs, SWITCHOVER_FLEET } from './support/seeded-input.ts';
import { SwitchoverRun } from './support/switchover-run.ts';
import { diffResults, resultSetOf } from './support/cloud-view.ts';
import { isProbe } from './support/gateway-hooks.ts';
import { runProgram } from '../edge-runtime/demo/stack.ts';

const input = recordFleet(SWITCHOVER_FLEET);
const reference = resultSetOf(referenceOutputs(input.readings));

test('a replacement gateway restored from the cloud snapshot continues with the same state and new seqs', { timeout: 120_000 }, async (t) => {
  const half = Math.floor(input.readings.length / 2);
  const messagesA = new Set(input.readings.slice(0, half).map((r) => `${r.deviceId}|${r.ts}`)).size;
  const run = await SwitchoverRun.start(input.readings, { limit: messagesA, cloud: { snapshot: '1s' } });
  const { stack, publisher } = run;
  const g = stack.gateway;
  try {
    // First half: acknowledged, processed, checkpointed, uploaded, and a snapshot of a checkpoint taken after all of it.
    await publisher.until(() => publisher.ackedCount === messagesA, 'the first half acknowledged');
    const mark = g.mark();
    let n = 0;
    const covering = Number((await g.waitFor((l) => isProbe('checkpoint-committed')(l) && ++n === 2, { after: mark, timeoutMs: 30_000 })).json!.checkpointId);
    await run.drained();
    const snap = await stack.until(async () => {
      const c = await stack.cloudGet<{ checkpointId: number; nextSeq: number; stateRows: number }>(`/v1/gateways/${stack.gatewayId}/checkpoint`);
      return c.checkpointId >= covering ? c : null;
    }, { what: `a snapshot of checkpoint ${covering} or later in the cloud` });
    const before = await stack.cloudGateway();
    assert.equal(before.contiguousSeq, before.highestSeq);
    assert.equal(snap.nextSeq, before.highestSeq + 1, 'the snapshot was taken with every issued seq delivered');

    // The gateway dies, and its disk with it.
    g.kill('SIGKILL');
    await g.exited;
    for (const f of ['weir.db', 'weir.db-wal', 'weir.db-shm', 'spill.db', 'spill.db-wal', 'spill.db-shm']) rmSync(`${stack.files.gatewayStateDir}/${f}`, { force: true });

    // The replacement: a token of its own, then the dead gateway's state from the cloud.
    const env = g.spec.env ?? process.env;
    const token = await runProgram('weir-cloud', ['gateway', 'token', stack.gatewayId, '--db', stack.files.cloudDb], { env });
    assert.equal(token.code, 0, token.stderr);
    writeFileSync(stack.files.gatewayToken, `${token.stdout.trim()}\n`, { mode: 0o600 });
    const restore = await runProgram('weir', ['restore', '--from-cloud', '--endpoint', stack.urls.cloud, '--gateway', stack.gatewayId,
      '--state', stack.files.gatewayDb, '--token-file', stack.files.gatewayToken], { env });
    assert.equal(restore.code, 0, restore.stderr);
    const restored = (JSON.parse(restore.stdout.trim()) as { restored: { checkpointId: number; stateRows: number; nextSeq: number; cloudContiguousSeq: number; cloudHighestSeq: number } }).restored;
    assert.equal(restored.checkpointId, snap.checkpointId);
    assert.ok(restored.stateRows > 0 && restored.stateRows === snap.stateRows, `state rows restored: ${restored.stateRows}`);
    assert.equal(restored.nextSeq, before.highestSeq + 1, 'seqs continue right after what the cloud holds');
    t.diagnostic(`restored checkpoint ${restored.checkpointId} (${restored.stateRows} state rows); next seq ${restored.nextSeq}`);

    const m = g.mark();
    await g.start();
    const rec = g.lines.find((l) => l.n > m && l.msg === 'recovered')!.json!;
    assert.equal(rec.checkpointId, snap.checkpointId, 'the replacement starts from the restored checkpoint');

    // The rest of the stream goes to the replacement (the publisher reconnects to it on the same port).
    publisher.publishUpTo(publisher.messages.length);
    await publisher.until(() => publisher.done, 'every message acknowledged', 90_000);
    await run.drained();
    const got = await run.finish();

    assert.deepEqual(diffResults(reference, got), [], 'exactly the results of an undisturbed run: the state continued');
    const after = got.records.filter((r) => r.seq > before.highestSeq);
    assert.ok(after.length > 0 && Math.min(...after.map((r) => r.seq)) === before.highestSeq + 1, 'the replacement\'s first seq follows the cloud\'s last');
    assert.equal(got.gateway.contiguousSeq, got.gateway.highestSeq);
    assert.equal(got.gateway.contiguousSeq, got.counts.records, 'every seq stored exactly once, none skipped or reused');
    assert.ok(!g.lines.some((l) => l.msg === 'uplink stopped'), 'the uplink never stopped (no seq reuse detected)');
  } finally {
    await run.dispose();
  }
});
