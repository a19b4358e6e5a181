/**
 * De-duplication across a restart, at the gateway level (store, runtime and
 * ingest as `weir run` starts them, in process): the table is rebuilt from
 * the tail of the durable log before anything is accepted, so a device
 * re-sending what the last incarnation made durable is recognised, and the
 * log is unchanged. (The same after SIGKILL, over real processes: the last
 * test of test/switchover-crash.test.ts.)
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig, type GatewayConfig } from '../config/gateway-config.ts';
import { Gateway } from '../gateway/gateway.ts';
import { gatewayMetrics } from '../gateway/gateway-metrics.ts';
import { memoryLogger } from '../log.ts';
import { ConfigError } from '../errors.ts';
import type { RawFrame } from './ingestor.ts';

const T0 = Date.UTC(2026, 0, 1, 8);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function config(ingest: string): GatewayConfig {
  const dir = mkdtempSync(join(tmpdir(), 'weir-dedup-restart-'));
  dirs.push(dir);
  return parseGatewayConfig(`gateway:
  stateDir: state
  tickInterval: 10ms
ingest: ${ingest}
pipelines:
  - name: minute
    window: { type: tumbling, size: 1m }
    aggregates: [count]
`, join(dir, 'gateway.yaml'));
}

const frame = (g: Gateway, i: number): RawFrame => ({
  transport: 'mqtt', topicOrUri: 'weir/env-0001/telemetry', deviceId: 'env-0001',
  payload: Buffer.from(JSON.stringify({ ts: T0 + i * 1000, temperature: 20 + (i % 10) })), arrivalTime: g.ingestor.now(),
});

async function logLines(g: Gateway): Promise<{ readings: string[]; ticks: number }> {
  const readings: string[] = [];
  let ticks = 0;
  for await (const seg of g.store.readFrom(1)) {
    for (const r of seg.records) {
      if (r.type === 'reading') readings.push(`${r.reading.deviceId}|${r.reading.metric}|${r.reading.eventTime}|${r.reading.value}`);
      else ticks++;
    }
  }
  return { readings, ticks };
}

const metric = async (g: Gateway, name: string, transport: string): Promise<number> =>
  (await gatewayMetrics(g)).find((f) => f.name === name)!.samples.find((s) => s.labels?.transport === transport)!.value;

describe('de-duplication across a gateway restart', () => {
  test('the last readings of the log are remembered at start: re-sent ones are duplicates and the log is unchanged', async () => {
    const cfg = config('{ dedupWindow: 100 }');
    let g = await Gateway.start(cfg, { logger: memoryLogger() });
    try {
      for (let i = 0; i < 300; i++) assert.equal((await g.ingestor.submit(frame(g, i))).kind, 'accepted');
      // Ticks (every 10 ms) are records too: make sure some are in the tail the restart reads.
      const before = await g.store.logStats();
      await new Promise<void>((resolve) => {
        const check = (): void => void g.store.logStats().then((s) => (s.nextOffset > before.nextOffset ? resolve() : setImmediate(check)));
        check();
      });
    } finally {
      await g.stop();
    }
    const logger = memoryLogger();
    g = await Gateway.start(cfg, { logger });
    try {
      const logged = await logLines(g);
      assert.equal(logged.readings.length, 300);
      assert.ok(logged.ticks > 0, 'ticks in the log');
      const rebuilt = logger.entries.find((e) => e.msg === 'recent readings remembered for de-duplication')!.fields!;
      // The last 100 records: readings up to the ticks among them; every tick is skipped.
      const readingsRemembered = rebuilt.readings as number;
      assert.ok(readingsRemembered > 0 && readingsRemembered < 100 && rebuilt.records === 100, JSON.stringify(rebuilt));

      // The device re-sends the readings the last incarnation made durable just before it stopped.
      for (let i = 300 - readingsRemembered; i < 300; i++) {
        assert.deepEqual(await g.ingestor.submit(frame(g, i)), { kind: 'accepted', readings: 0, lastOffset: -1 }, `reading ${i} again`);
      }
      assert.equal(g.ingestor.counters.duplicates, readingsRemembered);
      assert.equal(await metric(g, 'weir_ingest_duplicates_total', 'mqtt'), readingsRemembered);
      assert.equal(await metric(g, 'weir_ingest_frames_total', 'mqtt'), 0, 'no frame written');
      assert.deepEqual((await logLines(g)).readings, logged.readings, 'the log is unchanged');
      // Beyond the horizon (the oldest readings): not remembered, so logged again (at-least-once there).
      assert.match(JSON.stringify(await g.ingestor.submit(frame(g, 0))), /^\{"kind":"accepted","readings":1,"lastOffset":\d+\}$/);
    } finally {
      await g.stop();
    }
  });

  test('dedupWindow 0: no table, every redelivery logged', async () => {
    const cfg = config('{ dedupWindow: 0 }');
    const logger = memoryLogger();
    const g = await Gateway.start(cfg, { logger });
    try {
      await g.ingestor.submit(frame(g, 1));
      await g.ingestor.submit(frame(g, 1));
      assert.equal((await logLines(g)).readings.length, 2);
      assert.equal(logger.entries.some((e) => e.msg === 'recent readings remembered for de-duplication'), false);
    } finally {
      await g.stop();
    }
  });

  test('ingest.dedupWindow: default 131072, a whole number ≥ 0', () => {
    assert.equal(config('{}').ingest.dedupWindow, 131_072);
    for (const bad of ['-1', '1.5', '"lots"', String(2 ** 25)]) {
      assert.throws(() => config(`{ dedupWindow: ${bad} }`), (e: unknown) => e instanceof ConfigError && e.field === 'ingest.dedupWindow', bad);
    }
  });
});
