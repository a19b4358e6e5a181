import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createCloudSync, type CloudSync } from './app.ts';
import { SqliteStorage } from './storage/sqlite-storage.ts';
import { ManualTimer } from './clock.ts';
import { CloudError } from './errors.ts';
import { memoryLogger } from './log.ts';
import { encodeBody, encodeHeartbeat, encodeSnapshot, decodeSnapshot, type CheckpointSnapshot } from './protocol.ts';
import { HEARTBEAT } from './storage/storage-contract.ts';
import { addTestCredentials, anomalyRecord, orderedBatch, tempDir, uploadHeaders, windowRecord } from './test-support.ts';

function body(r: { body: Uint8Array | string }): unknown {
  return JSON.parse(typeof r.body === 'string' ? r.body : Buffer.from(r.body).toString('utf8'));
}

describe('cloud-sync app, in-process', () => {
  let tmp: ReturnType<typeof tempDir>;
  let app: CloudSync;
  let timer: ManualTimer;
  let tok: { a: string; b: string; reader: string };
  const post = (token: string, url: string, value: unknown) => app.inject({ method: 'POST', url, headers: uploadHeaders(token), body: encodeBody(value) });
  const get = (token: string | null, url: string) => app.inject({ method: 'GET', url, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });

  beforeEach(async () => {
    tmp = tempDir();
    timer = new ManualTimer(1_000_000);
    const storage = await SqliteStorage.open({ path: tmp.file('c.db'), synchronous: 'NORMAL' });
    tok = await addTestCredentials(storage);
    app = createCloudSync({ storage, clock: timer, timer });
  });
  afterEach(async () => {
    await app.storage.close();
    tmp.cleanup();
  });

  test('health needs no credential', async () => {
    const r = await get(null, '/v1/health');
    assert.equal(r.status, 200);
    assert.deepEqual(body(r), { ok: true, backend: 'sqlite' });
  });

  test('a batch is acked with the contiguous seq; its retry is all duplicates; a gap is 409 with the contiguous seq', async () => {
    const b1 = orderedBatch('gw-a', [windowRecord(1), windowRecord(2), anomalyRecord(3)]);
    const r1 = await post(tok.a, '/v1/batches', b1);
    assert.equal(r1.status, 200);
    assert.deepEqual(body(r1), { v: 1, gatewayId: 'gw-a', contiguousSeq: 3, highestSeq: 3, stored: 3, duplicates: 0, tombstoned: 0 });
    assert.deepEqual(body(await post(tok.a, '/v1/batches', b1)), { v: 1, gatewayId: 'gw-a', contiguousSeq: 3, highestSeq: 3, stored: 0, duplicates: 3, tombstoned: 0 });
    const gap = await post(tok.a, '/v1/batches', orderedBatch('gw-a', [windowRecord(5)]));
    assert.equal(gap.status, 409);
    assert.equal((body(gap) as { code: string }).code, 'E_SEQ_GAP');
    assert.equal((body(gap) as { contiguousSeq: number }).contiguousSeq, 3);
    const fill = await post(tok.a, '/v1/batches', orderedBatch('gw-a', [windowRecord(5)], [[4, 4]]));
    assert.deepEqual(body(fill), { v: 1, gatewayId: 'gw-a', contiguousSeq: 5, highestSeq: 5, stored: 1, duplicates: 0, tombstoned: 1 });
    assert.deepEqual(body(await get(tok.reader, '/v1/gateways/gw-a/seqs/4')), { gateway: 'gw-a', seq: 4, state: 'dropped', contiguousSeq: 5, record: null });
    assert.deepEqual(body(await get(tok.a, '/v1/gateways/gw-a/seqs/3')), {
      gateway: 'gw-a', seq: 3, state: 'stored', contiguousSeq: 5, record: { kind: 'anomaly', priority: 0, receivedAtMs: 1_000_000, replayed: false },
    });
    assert.equal((body(await get(tok.reader, '/v1/gateways/gw-a/seqs/6')) as { state: string }).state, 'missing');
  });

  test('credentials: none or unknown 401, a reader cannot upload, a gateway cannot write or read another gateway', async () => {
    const b = orderedBatch('gw-a', [windowRecord(1)]);
    const cases: [string, Promise<{ status: number; body: Uint8Array | string }>, number, string][] = [
      ['no credential', app.inject({ method: 'POST', url: '/v1/batches', headers: { 'content-type': 'application/cbor', 'content-encoding': 'deflate' }, body: encodeBody(b) }), 401, 'E_UNAUTHENTICATED'],
      ['unknown token', post('weir_' + 'x'.repeat(43), '/v1/batches', b), 401, 'E_UNAUTHENTICATED'],
      ['malformed token', post('nope', '/v1/batches', b), 401, 'E_UNAUTHENTICATED'],
      ['reader uploads', post(tok.reader, '/v1/batches', b), 403, 'E_FORBIDDEN'],
      ['gw-b sends for gw-a', post(tok.b, '/v1/batches', b), 403, 'E_WRONG_GATEWAY'],
      ['gw-b reads gw-a', get(tok.b, '/v1/gateways/gw-a/status'), 403, 'E_FORBIDDEN'],
      ['gw-b queries gw-a results', get(tok.b, '/v1/results?gateway=gw-a'), 403, 'E_FORBIDDEN'],
      ['query without credential', get(null, '/v1/fleet'), 401, 'E_UNAUTHENTICATED'],
    ];
    for (const [name, p, status, code] of cases) {
      const r = await p;
      assert.deepEqual([name, r.status, (body(r) as { code: string }).code], [name, status, code]);
    }
    assert.equal((await app.storage.counts()).records, 0);
  });

  test('heartbeat: acked with the cloud seqs; fleet status shows last seen, lag and outbox figures', async () => {
    await post(tok.a, '/v1/batches', orderedBatch('gw-a', [windowRecord(1), windowRecord(2)]));
    timer.advance(500);
    const hb = await app.inject({ method: 'POST', url: '/v1/heartbeats', headers: uploadHeaders(tok.a), body: encodeHeartbeat(HEARTBEAT) });
    assert.deepEqual(body(hb), { v: 1, contiguousSeq: 2, highestSeq: 2, serverTimeMs: 1_000_500 });
    timer.advance(250);
    const fleet = body(await get(tok.reader, '/v1/fleet')) as { nowMs: number; gateways: Record<string, unknown>[] };
    assert.equal(fleet.nowMs, 1_000_750);
    assert.deepEqual(fleet.gateways.map((g) => g.gatewayId), ['gw-a', 'gw-b']);
    assert.deepEqual(fleet.gateways[0], {
      gatewayId: 'gw-a', createdAtMs: 1, lastSeenMs: 1_000_500, lastSeenAgoMs: 250, contiguousSeq: 2, highestSeq: 2,
      lagSeqs: 17, heartbeatAtMs: 1_000_500, outbox: HEARTBEAT.outbox, drops: HEARTBEAT.drops, watermarkLagMs: 50,
      versions: HEARTBEAT.versions, counters: HEARTBEAT.counters, latestCheckpoint: null,
    });
    // A gateway sees itself only.
    assert.deepEqual((body(await get(tok.b, '/v1/fleet')) as { gateways: { gatewayId: string }[] }).gateways.map((g) => g.gatewayId), ['gw-b']);
  });

  test('checkpoint snapshot: upload, metadata, download byte for byte; an older id is not stored', async () => {
    const snap: CheckpointSnapshot = {
      v: 1, gatewayId: 'gw-a', checkpointId: 7, consumedOffset: 1234, committedAtMs: 999, nextSeq: 55, takenAtMs: 1000,
      rows: { ns: ['p/0', 'p/0'], keys: ['k1', 'k2'], values: [Uint8Array.of(1), Uint8Array.of(2, 3)] },
    };
    const bytes = encodeSnapshot(snap);
    const up = await app.inject({ method: 'POST', url: '/v1/checkpoints', headers: uploadHeaders(tok.a), body: bytes });
    assert.deepEqual(body(up), { v: 1, checkpointId: 7, stored: true });
    const again = await app.inject({ method: 'POST', url: '/v1/checkpoints', headers: uploadHeaders(tok.a), body: encodeSnapshot({ ...snap, checkpointId: 6 }) });
    assert.deepEqual(body(again), { v: 1, checkpointId: 6, stored: false });
    assert.deepEqual(body(await get(tok.reader, '/v1/gateways/gw-a/checkpoint')), {
      gatewayId: 'gw-a', checkpointId: 7, consumedOffset: 1234, committedAtMs: 999, nextSeq: 55, stateRows: 2, bytes: bytes.byteLength, receivedAtMs: 1_000_000,
    });
    const dl = await get(tok.a, '/v1/gateways/gw-a/checkpoint/snapshot');
    assert.equal(dl.status, 200);
    assert.equal(dl.headers['content-type'], 'application/vnd.weir.snapshot');
    assert.deepEqual(Uint8Array.from(dl.body as Uint8Array), Uint8Array.from(bytes));
    const back = decodeSnapshot(dl.body as Uint8Array);
    assert.deepEqual({ ...back, rows: { ...back.rows, values: back.rows.values.map((v) => Uint8Array.from(v)) } }, snap);
    assert.equal((await get(tok.b, '/v1/gateways/gw-b/checkpoint/snapshot')).status, 404);
  });

  test('results: final view with corrections, merged windows and a time range; anomalies by device', async () => {
    const recs = [
      windowRecord(1, { start: 0, end: 10, mean: 1 }),
      windowRecord(2, { start: 10, end: 20, mean: 2 }),
      windowRecord(3, { start: 0, end: 10, version: 2, mean: 1.5 }), // a correction
      windowRecord(4, { start: 20, end: 30, mean: 3 }),
      windowRecord(5, { start: 30, end: 40, mean: 4 }),
      windowRecord(6, { start: 20, end: 40, mean: 3.5, merged: { windows: 2, inexact: [] } }), // downsampled 4 and 5
      anomalyRecord(7, { deviceId: 'd1', eventTime: 25 }),
      windowRecord(8, { start: 0, end: 10, deviceId: 'd2', mean: 9 }),
    ];
    await post(tok.a, '/v1/batches', orderedBatch('gw-a', recs));
    const res = body(await get(tok.reader, '/v1/results?device=d1&metric=temperature')) as { results: { seq: number; start: number; end: number; version: number; values: unknown }[]; truncated: boolean };
    assert.deepEqual(res.results.map((r) => [r.seq, r.start, r.end, r.version, r.values]), [
      [3, 0, 10, 2, { mean: 1.5 }], [2, 10, 20, 1, { mean: 2 }], [6, 20, 40, 1, { mean: 3.5 }],
    ]);
    assert.equal(res.truncated, false);
    const ranged = body(await get(tok.reader, '/v1/results?device=d1&from=15&to=25')) as { results: { seq: number }[] };
    assert.deepEqual(ranged.results.map((r) => r.seq), [2, 6]);
    const limited = body(await get(tok.reader, '/v1/results?limit=2')) as { truncated: boolean };
    assert.equal(limited.truncated, true);
    const an = body(await get(tok.a, '/v1/anomalies?device=d1')) as { anomalies: { seq: number; eventTime: number; gateway: string }[] };
    assert.deepEqual(an.anomalies.map((a) => [a.gateway, a.seq, a.eventTime]), [['gw-a', 7, 25]]);
  });

  test('bad queries and routes: exact codes', async () => {
    const cases: [string, string, number, string][] = [
      ['GET', '/v1/nope', 404, 'E_NOT_FOUND'],
      ['DELETE', '/v1/batches', 405, 'E_METHOD'],
      ['GET', '/v1/batches', 405, 'E_METHOD'],
      ['GET', '/v1/results?limit=0', 400, 'E_INVALID'],
      ['GET', '/v1/results?limit=abc', 400, 'E_INVALID'],
      ['GET', '/v1/results?from=yesterday', 400, 'E_INVALID'],
      ['GET', '/v1/results?from=10&to=5', 400, 'E_INVALID'],
      ['GET', '/v1/results?colour=red', 400, 'E_INVALID'],
      ['GET', '/v1/results?device=a&device=b', 400, 'E_INVALID'],
      ['GET', '/v1/gateways/gw-a/seqs/0', 400, 'E_INVALID'],
      ['GET', '/v1/gateways/gw-a/seqs/1.5', 400, 'E_INVALID'],
      ['GET', '/v1/gateways/%E0%A4%A/status', 400, 'E_INVALID'],
      ['GET', '/v1/gateways/ghost/status', 404, 'E_NOT_FOUND'],
      ['GET', '/v1/gateways/ghost/seqs/1', 404, 'E_NOT_FOUND'],
    ];
    for (const [method, url, status, code] of cases) {
      const r = await app.inject({ method, url, headers: { authorization: `Bearer ${tok.reader}` } });
      assert.deepEqual([method, url, r.status, (body(r) as { code: string }).code], [method, url, status, code]);
    }
  });

  test('a body that stalls is cut off by the (injected) body timeout with 408, and the connection is closed', async () => {
    const stream = new PassThrough();
    const bytes = encodeBody(orderedBatch('gw-a', [windowRecord(1)]));
    stream.write(bytes.subarray(0, 5));
    const pending = app.inject({ method: 'POST', url: '/v1/batches', headers: { ...uploadHeaders(tok.a), 'content-length': String(bytes.byteLength) }, body: stream });
    // The handler is waiting for the rest of the body: let it reach the read, then fire the timer.
    while (timer.armed === 0) await new Promise<void>((r) => setImmediate(r));
    timer.advance(30_000);
    const r = await pending;
    assert.equal(r.status, 408);
    assert.equal((body(r) as { code: string }).code, 'E_BODY_TIMEOUT');
    assert.equal(r.close, true);
    assert.equal((await app.storage.counts()).records, 0);
  });

  test('storage down: 503 E_UNAVAILABLE with Retry-After, logged with its cause, no token in the log', async () => {
    const logger = memoryLogger();
    const down = Object.create(app.storage, {
      ingest: { value: async () => { throw new CloudError('E_STORAGE', 'postgres ingest: ECONNREFUSED'); } },
    }) as typeof app.storage;
    const broken = createCloudSync({ storage: down, logger });
    const r = await broken.inject({ method: 'POST', url: '/v1/batches', headers: uploadHeaders(tok.a), body: encodeBody(orderedBatch('gw-a', [windowRecord(1)])) });
    assert.deepEqual([r.status, (body(r) as { code: string }).code, r.headers['retry-after']], [503, 'E_UNAVAILABLE', '5']);
    assert.deepEqual(logger.entries.map((e) => [e.level, e.msg, e.fields?.code, e.fields?.gateway]), [['error', 'request failed', 'E_UNAVAILABLE', 'gw-a']]);
    assert.ok(!JSON.stringify(logger.entries).includes(tok.a));
  });

  test('after beginShutdown every request is 503 E_UNAVAILABLE with Retry-After and Connection: close', async () => {
    app.beginShutdown();
    const r = await get(tok.reader, '/v1/fleet');
    assert.deepEqual([r.status, (body(r) as { code: string }).code, r.headers['retry-after'], r.close], [503, 'E_UNAVAILABLE', '5', true]);
  });
});
