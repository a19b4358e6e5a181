/**
 * The gateway process: config validation naming fields, start-up, ingest
 * through the shared path into the durable log (bad frames into quarantine),
 * clean shutdown on SIGTERM with a final checkpoint, and restart with state.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { parseGatewayConfig } from '../edge-runtime/config/gateway-config.ts';
import { Gateway } from '../edge-runtime/gateway/gateway.ts';
import { memoryLogger } from '../edge-runtime/log.ts';
import { ConfigError } from '../edge-runtime/errors.ts';
import { LocalStateStore } from '../edge-runtime/state/local-store.ts';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'weir-gw-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PIPELINES = `
  - name: env-1m
    keyBy: [deviceId, metric]
    window: { type: tumbling, size: 1m }
    aggregates: [count, mean]
`;
const config = (stateDir: string, extra = ''): string => `gateway:\n  id: gw-test\n  stateDir: ${stateDir}\n  checkpointInterval: 1s\n${extra}pipelines:${PIPELINES}`;

describe('gateway config', () => {
  const bad: [string, string][] = [
    ['gateway:\n  durability: SOMETIMES\npipelines:' + PIPELINES, 'gateway.durability'],
    ['memory:\n  budget: lots\npipelines:' + PIPELINES, 'memory.budget'],
    ['memory:\n  budget: 8MB\n  policy: pray\npipelines:' + PIPELINES, 'memory.policy'],
    ['gateway:\n  checkpointInterval: soon\npipelines:' + PIPELINES, 'gateway.checkpointInterval'],
    ['gateway:\n  checkpointMaxRows: -1\npipelines:' + PIPELINES, 'gateway.checkpointMaxRows'],
    ['gateway:\n  checkpointMaxRows: many\npipelines:' + PIPELINES, 'gateway.checkpointMaxRows'],
    ['gateway:\n  sqliteCache: 1KB\npipelines:' + PIPELINES, 'gateway.sqliteCache'],
    ['gateway:\n  sqliteCache: plenty\npipelines:' + PIPELINES, 'gateway.sqliteCache'],
    ['pipelines: []', 'pipelines'],
    ['gateways: {}\npipelines:' + PIPELINES, 'gateways'],
    ['pipelines:\n  - name: x\n    window: { type: tumbling }\n    aggregates: [count]', 'pipelines[0].window.size'],
    ['http:\n  port: 99999\npipelines:' + PIPELINES, 'http.port'],
    ['devices:\n  profiles: [missing.yaml]\npipelines:' + PIPELINES, 'devices.profiles[0]'],
  ];
  for (const [text, field] of bad) {
    test(`rejects a bad ${field}, naming it`, () => {
      assert.throws(() => parseGatewayConfig(text, join(dir, 'x.yaml')), (e: unknown) => e instanceof ConfigError && e.field === field);
    });
  }
  test('defaults: FULL durability, 1 s checkpoints, built-in profiles, state dir beside the file', () => {
    const c = parseGatewayConfig('pipelines:' + PIPELINES, join(dir, 'c.yaml'));
    assert.equal(c.durability, 'FULL');
    assert.equal(c.checkpointIntervalMs, 1000);
    assert.equal(c.checkpointMaxRows, null, 'the runtime derives it from memory.budget');
    assert.equal(c.sqliteCacheBytes, 2 * 1024 * 1024);
    assert.equal(parseGatewayConfig('gateway:\n  sqliteCache: 8MB\npipelines:' + PIPELINES, join(dir, 'c.yaml')).sqliteCacheBytes, 8 * 1024 * 1024);
    assert.equal(c.stateDir, join(dir, '.weir'));
    assert.ok(c.profiles.some((p) => p.name === 'env-sensor'));
    assert.equal(c.memory, null);
  });
});

describe('gateway in process', () => {
  test('ingests good frames durably, quarantines bad ones with their reason, and restarts with its state', async () => {
    const stateDir = join(dir, 'inproc');
    const cfg = parseGatewayConfig(config(stateDir, 'memory:\n  budget: 8MB\n'), join(dir, 'g.yaml'));
    const logger = memoryLogger();
    let g = await Gateway.start(cfg, { logger });
    const t = Date.UTC(2026, 0, 1, 12);
    const frame = (dev: string, body: unknown, topic = `weir/${dev}/telemetry`) => ({
      transport: 'mqtt' as const, topicOrUri: topic, deviceId: dev, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), arrivalTime: t,
    });
    const outcomes = await Promise.all([
      g.ingestor.submit(frame('env-0001', { ts: t, temperature: 21.5, humidity: 40 })),
      g.ingestor.submit(frame('env-0001', '{"ts": 1, "temperature": ')),
      g.ingestor.submit(frame('env-0001', { ts: t, temperature: 999 })),
      g.ingestor.submit(frame('env-0001', { ts: t, temperature: 20 }, 'weir/env-0002/telemetry')),
      g.ingestor.submit(frame('nobody', { ts: t, temperature: 20 }, 'elsewhere/x')),
      g.ingestor.submit(frame('env-0001', { ts: t, colour: 3 })),
    ]);
    assert.deepEqual(outcomes.map((o) => (o.kind === 'accepted' ? `ok:${o.readings}` : o.reason)), [
      'ok:2', 'E_DECODE_JSON', 'E_OUT_OF_RANGE', 'E_TOPIC_DENIED', 'E_UNKNOWN_DEVICE', 'E_UNKNOWN_METRIC',
    ]);
    await g.stop();
    assert.ok(logger.entries.some((e) => e.msg === 'gateway stopped'));
    const s = await LocalStateStore.open({ path: join(stateDir, 'weir.db') });
    const q = await s.quarantineStats();
    const log = await s.logStats();
    const ck = await s.loadCheckpoint();
    await s.close();
    assert.equal(q.total, 5);
    assert.deepEqual(q.byReason, { E_DECODE_JSON: 1, E_OUT_OF_RANGE: 1, E_TOPIC_DENIED: 1, E_UNKNOWN_DEVICE: 1, E_UNKNOWN_METRIC: 1 });
    assert.equal(log.nextOffset - 1, ck!.consumedOffset, 'the final checkpoint consumed everything');
    g = await Gateway.start(cfg, { logger });
    assert.equal(g.runtime.stats.replayedRecords, 0);
    await g.stop();
  });
});

describe('weir run', () => {
  test('starts, and on SIGTERM stops cleanly with a final checkpoint (exit 0)', async () => {
    const file = join(dir, 'run.yaml');
    writeFileSync(file, config(join(dir, 'run-state')));
    const child = spawn(process.execPath, ['--import', 'tsx', 'edge-runtime/cli/main.ts', 'run', '--config', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: { msg: string; [k: string]: unknown }[] = [];
    const lines = createInterface({ input: child.stderr });
    const started = new Promise<void>((resolve) => {
      lines.on('line', (l) => {
        const o = JSON.parse(l) as { msg: string };
        logs.push(o);
        if (o.msg === 'gateway started') resolve();
      });
    });
    await started;
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0, JSON.stringify(logs));
    assert.ok(logs.some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM'));
    assert.ok(logs.some((l) => l.msg === 'gateway stopped'));
  });

  test('a bad config exits 2 naming the field', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'memory:\n  budget: lots\npipelines:' + PIPELINES);
    const child = spawn(process.execPath, ['--import', 'tsx', 'edge-runtime/cli/main.ts', 'run', '--config', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 2);
    assert.match(err, /E_CONFIG: memory\.budget: /);
  });
});

describe('gateway /metrics and /healthz', () => {
  test('scraped counters match what was done', async () => {
    const stateDir = join(dir, 'metrics');
    const cfg = parseGatewayConfig(config(stateDir, 'http:\n  port: 0\n'), join(dir, 'm.yaml'));
    const { defaultServices } = await import('../edge-runtime/gateway/services.ts');
    const g = await Gateway.start(cfg, { logger: memoryLogger(), services: defaultServices() });
    try {
      const port = g.service<{ name: string; port: number; stop(): Promise<void> }>('http')!.port;
      const t = Date.UTC(2026, 0, 1, 12);
      const frame = (dev: string, body: string, transport: 'mqtt' | 'coap' = 'mqtt') => ({
        transport, topicOrUri: `weir/${dev}/telemetry`, deviceId: dev, payload: Buffer.from(body), arrivalTime: t,
        ...(transport === 'coap' ? { profile: cfg.profiles.find((p) => p.name === 'env-sensor')! } : {}),
      });
      for (let i = 0; i < 7; i++) await g.ingestor.submit(frame(`env-000${i % 3}`, JSON.stringify({ ts: t + i, temperature: 20 + i })));
      await g.ingestor.submit(frame('env-0001', JSON.stringify({ ts: t, temperature: 21, humidity: 40 }), 'coap'));
      for (let i = 0; i < 4; i++) await g.ingestor.submit(frame('env-0001', '{oops'));
      await g.ingestor.submit(frame('env-0001', JSON.stringify({ ts: t, temperature: 500 })));
      await g.runtime.checkpoint();
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const value = (series: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(series + ' '));
        assert.ok(line, `no ${series} in\n${text}`);
        return Number(line.split(' ')[1]);
      };
      assert.equal(value('weir_ingest_frames_total{transport="mqtt"}'), 7);
      assert.equal(value('weir_ingest_readings_total{transport="mqtt"}'), 7);
      assert.equal(value('weir_ingest_frames_total{transport="coap"}'), 1);
      assert.equal(value('weir_ingest_readings_total{transport="coap"}'), 2);
      assert.equal(value('weir_quarantined_total{reason="E_DECODE_JSON"}'), 4);
      assert.equal(value('weir_quarantined_total{reason="E_OUT_OF_RANGE"}'), 1);
      assert.equal(value('weir_quarantine_rows'), 5);
      assert.ok(value('weir_checkpoints_total') >= 1);
      assert.equal(value('weir_checkpoints_early_total'), 0, 'a handful of readings never fills checkpointMaxRows');
      assert.ok(value('weir_log_processed_offset') >= 9, '9 readings (and perhaps ticks) processed');
      assert.match(text, /^# TYPE weir_outbox_rows gauge$/m);
      const h = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(h.status, 200);
      assert.equal(((await h.json()) as { status: string }).status, 'ok');
      assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
    } finally {
      await g.stop();
    }
  });
});
