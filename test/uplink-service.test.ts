/** The uplink as a `weir run` service: from the config's cloud section to rows acked by a real cloud-sync. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import { tempDir } from '../edge-runtime/state/test-support.ts';
import { memoryLogger } from '../edge-runtime/log.ts';
import { ManualClock } from '../edge-runtime/engine/types.ts';
import { startUplinkService } from '../edge-runtime/uplink/uplink-service.ts';
import { startTestCloud } from './support/cloud-harness.ts';
import { commitRows, windowOut } from './support/outbox-fill.ts';

test('startUplinkService: null without a cloud section; with one, delivers and stops cleanly', async () => {
  const tmp = tempDir();
  const cloud = await startTestCloud('sqlite');
  const store = await LocalStateStore.open({ path: tmp.file('gw.db'), synchronous: 'NORMAL' });
  const logger = memoryLogger();
  const clock = new ManualClock(1_000_000);
  try {
    const base = { gatewayId: 'gw-a', baseDir: tmp.dir, checkpointIntervalMs: 1000 };
    assert.equal(await startUplinkService({ config: { ...base, cloud: null }, store, logger, clock }), null);
    writeFileSync(tmp.file('token'), cloud.token);
    const svc = await startUplinkService({ config: { ...base, cloud: { endpoint: cloud.url, tokenFile: 'token', heartbeat: 0, snapshot: 0, batch: { maxAge: 0 } } }, store, logger, clock });
    assert.ok(svc !== null);
    await svc.uplink.waitFor((e) => e.type === 'idle');
    await commitRows(store, Array.from({ length: 50 }, (_, i) => windowOut(i)), 1_000_000);
    const idle = svc.uplink.waitFor((e) => e.type === 'idle');
    svc.uplink.notify();
    await idle;
    await svc.stop();
    assert.equal((await cloud.storage.counts()).records, 50);
    assert.equal((await store.outboxStats(0)).rows, 0);
    assert.deepEqual(logger.entries.map((e) => e.msg), ['uplink started']);
    assert.ok(!JSON.stringify(logger.entries).includes(cloud.token));
  } finally {
    await store.close();
    await cloud.close();
    tmp.cleanup();
  }
});
