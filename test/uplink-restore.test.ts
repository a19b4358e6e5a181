/**
 * A gateway dies; its replacement restores from the cloud (the latest
 * uploaded snapshot) and carries on: the same state, outbox seqs continuing
 * after everything the cloud holds (never reused), the seqs the dead
 * gateway issued but never delivered tombstoned, every delivered row once.
 */
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';
import { collect, tempDir } from '../edge-runtime/state/test-support.ts';
import { restoreFromCloud } from '../edge-runtime/uplink/snapshot.ts';
import { restoreCommand } from '../edge-runtime/uplink/restore-command.ts';
import { existsSync, writeFileSync } from 'node:fs';
import type { Uplink } from '../edge-runtime/uplink/uplink.ts';
import { ManualTimer } from '../cloud-sync/clock.ts';
import { startTestCloud, type TestCloud } from './support/cloud-harness.ts';
import { anomalyOut, commitRows, drainWithRetries, uplinkFor, windowOut } from './support/outbox-fill.ts';

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const STATE = [
  { ns: 'stats/1', key: 'd1|temperature', value: Uint8Array.of(1, 2, 3) },
  { ns: 'stats/1', key: 'd2|temperature', value: Uint8Array.of(4) },
  { ns: 'stats/0', key: 'full', value: Uint8Array.of(9, 9) },
];

for (const variant of ['learns the cloud seqs from its first heartbeat', 'learns the cloud seqs from E_SEQ_GAP'] as const) {
  describe(`restore from the cloud; the replacement ${variant}`, () => {
    let tmp: ReturnType<typeof tempDir>;
    let cloud: TestCloud;
    let timer: ManualTimer;
    const uplinks: Uplink[] = [];
    const stores: LocalStateStore[] = [];
    beforeEach(async () => {
      tmp = tempDir();
      cloud = await startTestCloud('sqlite');
      timer = new ManualTimer(1_000_000);
    });
    afterEach(async () => {
      for (const u of uplinks.splice(0)) await u.stop();
      for (const s of stores.splice(0)) await s.close();
      await cloud.close();
      tmp.cleanup();
    });

    test('same state, seqs continue after the cloud, undelivered seqs tombstoned, nothing twice', async () => {
      // Gateway A: checkpoint 1 (state + rows 1..20), snapshot and rows go up.
      const a = await LocalStateStore.open({ path: tmp.file('a.db'), synchronous: 'NORMAL' });
      stores.push(a);
      await commitRows(a, range(1, 20).map((i) => windowOut(i)), 1_000_000, STATE);
      const ua = uplinkFor(a, cloud, timer, { snapshotIntervalMs: 3_600_000, batch: { maxRecords: 5, maxAgeMs: 0 } });
      uplinks.push(ua);
      const idle = drainWithRetries(ua, timer);
      ua.start();
      const evA = await idle;
      assert.deepEqual(evA.filter((e) => e.type === 'snapshot').map((e) => e.type === 'snapshot' && [e.checkpointId, e.stored, e.stateRows]), [[1, true, 3]]);
      // Checkpoint 2 adds rows 21..29 and an anomaly (30); the anomaly goes up live, then A dies.
      await commitRows(a, [...range(21, 29).map((i) => windowOut(i)), anomalyOut(30)], 1_000_100, [{ ns: 'stats/1', key: 'd3|temperature', value: Uint8Array.of(5) }]);
      const died = ua.waitFor((e) => e.type === 'acked' && e.lane === 'live');
      ua.onEvent((e) => {
        if (e.type === 'acked' && e.lane === 'live') void ua.stop();
      });
      ua.notify();
      await died;
      const before = (await cloud.storage.gateways('gw-a'))[0]!;
      assert.deepEqual([before.contiguousSeq, before.highestSeq], [20, 30]);

      // Replacement B restores from the cloud.
      const b = await LocalStateStore.open({ path: tmp.file('b.db'), synchronous: 'NORMAL' });
      stores.push(b);
      const r = await restoreFromCloud(b, { endpoint: cloud.url, gatewayId: 'gw-a', token: cloud.token, timer, clock: timer }, timer.now());
      assert.deepEqual({ ...r, consumedOffset: 0 }, { checkpointId: 1, consumedOffset: 0, stateRows: 3, nextSeq: 31, cloudContiguousSeq: 20, cloudHighestSeq: 30 });
      assert.deepEqual((await collect(b.loadState())).map((x) => [x.ns, x.key, [...x.value]]),
        [...STATE].sort((x, y) => (x.ns + x.key < y.ns + y.key ? -1 : 1)).map((x) => [x.ns, x.key, [...x.value]]));
      assert.equal((await b.loadCheckpoint())!.checkpointId, 1);
      const seqs = await commitRows(b, range(100, 102).map((i) => windowOut(i)), 1_000_200);
      assert.deepEqual(seqs, { firstSeq: 31, lastSeq: 33 });

      const ub = uplinkFor(b, cloud, timer, variant.includes('heartbeat') ? { heartbeatIntervalMs: 60_000 } : {});
      uplinks.push(ub);
      const done = drainWithRetries(ub, timer);
      ub.start();
      await done;
      const after = (await cloud.storage.gateways('gw-a'))[0]!;
      assert.deepEqual([after.contiguousSeq, after.highestSeq], [33, 33]);
      assert.deepEqual([ub.stats.gapRewinds, ub.stats.failures, ub.stats.tombstoned], variant.includes('heartbeat') ? [1, 0, 10] : [1, 1, 10]);
      const states = await Promise.all(range(1, 33).map(async (s) => (await cloud.storage.seqStatus('gw-a', s))!.state));
      assert.deepEqual(states, [...range(1, 20).map(() => 'stored'), ...range(21, 29).map(() => 'dropped'), 'stored', 'stored', 'stored', 'stored']);
      assert.equal((await cloud.storage.counts()).records, 24);
      assert.equal((await b.outboxStats(0)).rows, 0);
    });
  });
}

describe('weir restore --from-cloud (restoreCommand)', () => {
  test('restores into a new file with the token from a file; failures exit 1 and leave no file; usage errors exit 2', async () => {
    const tmp = tempDir();
    const cloud = await startTestCloud('sqlite');
    const timer = new ManualTimer(1_000_000);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), env: {} };
    try {
      writeFileSync(tmp.file('token'), `${cloud.token}\n`);
      const base = ['--from-cloud', '--endpoint', cloud.url, '--gateway', 'gw-a', '--token-file', tmp.file('token')];
      // No snapshot yet: exit 1, E_UPLINK_NO_SNAPSHOT, no file left behind.
      assert.equal(await restoreCommand([...base, '--state', tmp.file('b.db')], io), 1);
      assert.match(err.join(''), /\[E_UPLINK_NO_SNAPSHOT\]/);
      assert.equal(existsSync(tmp.file('b.db')), false);
      // Gateway A uploads one.
      const a = await LocalStateStore.open({ path: tmp.file('a.db'), synchronous: 'NORMAL' });
      await commitRows(a, range(1, 5).map((i) => windowOut(i)), 1_000_000, STATE);
      const ua = uplinkFor(a, cloud, timer, { snapshotIntervalMs: 3_600_000 });
      const up = drainWithRetries(ua, timer);
      ua.start();
      await up;
      await ua.stop();
      await a.close();
      assert.equal(await restoreCommand([...base, '--state', tmp.file('b.db')], io), 0);
      const line = JSON.parse(out.join('')) as { restored: { gateway: string; checkpointId: number; nextSeq: number; stateRows: number } };
      assert.deepEqual([line.restored.gateway, line.restored.checkpointId, line.restored.nextSeq, line.restored.stateRows], ['gw-a', 1, 6, 3]);
      const b = await LocalStateStore.open({ path: tmp.file('b.db') });
      assert.equal((await b.outboxStats(0)).nextSeq, 6);
      await b.close();
      // Usage: an existing file, a missing token, a missing flag.
      assert.equal(await restoreCommand([...base, '--state', tmp.file('b.db')], io), 2);
      assert.equal(await restoreCommand(['--from-cloud', '--endpoint', cloud.url, '--gateway', 'gw-a', '--state', tmp.file('c.db')], io), 2);
      assert.equal(await restoreCommand(['--endpoint', cloud.url], io), 2);
      assert.equal(await restoreCommand(['--bogus'], io), 2);
      // A wrong token: 401 from the cloud, exit 1.
      assert.equal(await restoreCommand(['--from-cloud', '--endpoint', cloud.url, '--gateway', 'gw-a', '--state', tmp.file('d.db')],
        { ...io, env: { WEIR_CLOUD_TOKEN: `weir_${'q'.repeat(43)}` } }), 1);
      assert.match(err.join(''), /401 E_UNAUTHENTICATED/);
      assert.ok(!err.join('').includes(cloud.token), 'the token is never printed');
    } finally {
      await cloud.close();
      tmp.cleanup();
    }
  });
});
