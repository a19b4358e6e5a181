import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { deflateSync } from 'node:zlib';
import { createCloudSync } from './app.ts';
import { listen } from './server.ts';
import { ManualTimer, type Clock } from './clock.ts';
import { memoryLogger } from './log.ts';
import { SqliteStorage } from './storage/sqlite-storage.ts';
import { HEARTBEAT } from './storage/storage-contract.ts';
import { encodeBody, encodeSnapshot, type CheckpointSnapshot, type WireRecord } from './protocol.ts';
import { counter, gauge, render } from './metrics-text.ts';
import { addTestCredentials, anomalyRecord, cborOf, orderedBatch, tempDir, uploadHeaders, windowRecord } from './test-support.ts';

// ---- a strict reader of the text exposition format 0.0.4 ------------------------------------------

interface Exposition {
  /** `name{k="v",...}` (labels sorted) → value. */
  readonly series: Map<string, number>;
  readonly types: Map<string, string>;
  readonly help: Map<string, string>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const ls = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
  return ls.length === 0 ? name : `${name}{${ls.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
}

/** Parses an exposition and throws on anything the format does not allow (or that we promise not to do). */
function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  const series = new Map<string, number>();
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const finished = new Set<string>();
  let current: string | null = null;
  for (const line of text.slice(0, -1).split('\n')) {
    assert.notEqual(line, '', 'no empty lines');
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (h !== null) {
      assert.match(h[1]!, METRIC_NAME);
      assert.ok(!help.has(h[1]!), `one HELP for ${h[1]}`);
      assert.ok(!/\\[^\\n]/.test(h[2]!.replace(/\\\\/g, '')), `HELP of ${h[1]} escapes only \\ and \\n`);
      help.set(h[1]!, h[2]!.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\')));
      continue;
    }
    if (t !== null) {
      assert.ok(!types.has(t[1]!), `one TYPE for ${t[1]}`);
      assert.ok(!series.has(t[1]!) && ![...series.keys()].some((k) => k.startsWith(`${t[1]}{`)), `TYPE of ${t[1]} before its samples`);
      types.set(t[1]!, t[2]!);
      if (current !== null) finished.add(current);
      current = t[1]!;
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${line}`);
    const [, name, rawLabels, rawValue] = m as unknown as [string, string, string | undefined, string];
    assert.equal(name, current, `${name}'s samples are grouped under its TYPE line`);
    assert.ok(!finished.has(name), `${name} appears once`);
    const labels: Record<string, string> = {};
    if (rawLabels !== undefined) {
      // label="value" pairs; in values only \\, \" and \n are escapes.
      let rest = rawLabels.slice(1, -1);
      while (rest.length > 0) {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/.exec(rest);
        assert.ok(lm !== null, `labels of ${line}`);
        assert.match(lm[1]!, LABEL_NAME);
        assert.ok(!(lm[1]! in labels), `label ${lm[1]} once`);
        labels[lm[1]!] = lm[2]!.replace(/\\(\\|"|n)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(lm[0].length);
      }
    }
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : rawValue === 'NaN' ? Number.NaN : Number(rawValue);
    assert.ok(rawValue === 'NaN' || !Number.isNaN(value), `a number: ${line}`);
    const key = seriesKey(name, labels);
    assert.ok(!series.has(key), `series ${key} once`);
    series.set(key, value);
  }
  for (const [name, type] of types) {
    assert.ok(help.has(name), `HELP for ${name}`);
    if (type === 'counter') assert.match(name, /_total$/, 'counters end in _total');
  }
  return { series, types, help };
}

// ---- the exposition itself ----------------------------------------------------------------------

describe('metrics text format', () => {
  test('label values and HELP are escaped; the output parses back to the same values', () => {
    const nasty = 'a\\b"c\nd';
    const text = render([
      counter('x_total', 'help with \\ and\na line feed', [{ labels: { v: nasty, w: '' }, value: 3 }, { labels: { v: 'plain', w: 'é' }, value: 0 }]),
      gauge('y_seconds', 'a gauge', [{ value: 1.5 }, { labels: { k: 'inf' }, value: Infinity }]),
      gauge('z', 'nan', Number.NaN),
    ]);
    assert.equal(text.split('\n')[2], 'x_total{v="a\\\\b\\"c\\nd",w=""} 3');
    const e = parseExposition(text);
    assert.equal(e.series.get(seriesKey('x_total', { v: nasty, w: '' })), 3);
    assert.equal(e.series.get(seriesKey('x_total', { v: 'plain', w: 'é' })), 0);
    assert.equal(e.series.get('y_seconds'), 1.5);
    assert.equal(e.series.get(seriesKey('y_seconds', { k: 'inf' })), Infinity);
    assert.ok(Number.isNaN(e.series.get('z')));
    assert.equal(e.help.get('x_total'), 'help with \\ and\na line feed');
    assert.equal(e.types.get('y_seconds'), 'gauge');
  });

  test('bad names, reserved label names and a family given twice are refused', () => {
    assert.throws(() => render([gauge('bad-name', 'x', 1)]), TypeError);
    assert.throws(() => render([gauge('ok', 'x', [{ labels: { 'bad-label': 'v' }, value: 1 }])]), TypeError);
    assert.throws(() => render([gauge('ok', 'x', [{ labels: { __name__: 'v' }, value: 1 }])]), TypeError);
    assert.throws(() => render([gauge('ok', 'x', 1), gauge('ok', 'x', 2)]), TypeError);
  });
});

// ---- the service, over real HTTP ----------------------------------------------------------------

/** A record of a kind the cloud does not know: stored as an opaque payload, counted as `other`. */
function probeRecord(seq: number): WireRecord {
  return { seq, kind: 'probe', priority: 2, series: 'probe', tStart: seq, tEnd: seq + 1, payload: cborOf({ type: 'probe' }), replayed: false };
}

function lateRecord(seq: number): WireRecord {
  const payload = cborOf({
    type: 'late', pipeline: 'p', key: { deviceId: 'd1', metric: 'temperature' },
    reading: { deviceId: 'd1', metric: 'temperature', value: 1, eventTime: seq }, watermark: seq + 100, missedWindows: 1,
  });
  return { seq, kind: 'late', priority: 1, series: 'p\u001fd1\u001ftemperature', tStart: seq, tEnd: seq + 1, payload, replayed: false };
}

/** Sends a request head announcing a body, and no body; returns the raw answer (the server answers and closes). */
async function headOnly(port: number, head: string): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  let answer = '';
  s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  const closed = once(s, 'close');
  s.write(head);
  await closed;
  return answer;
}

test('GET /metrics counts exactly what was done over HTTP; /healthz follows storage', async () => {
  const T0 = 1_700_000_000_000;
  let now = T0;
  const clock: Clock = { now: () => now };
  const tmp = tempDir();
  const storage = await SqliteStorage.open({ path: tmp.file('c.db'), synchronous: 'NORMAL' });
  const tok = await addTestCredentials(storage);
  const logger = memoryLogger();
  const app = createCloudSync({ storage, clock, logger, limits: { body: { maxBytes: 64 * 1024 } } });
  const server = await listen(app, { graceMs: 5000 });
  try {
    const send = async (token: string, path: string, value: unknown): Promise<{ status: number; body: Record<string, unknown>; bytes: number }> => {
      const bytes = encodeBody(value);
      const r = await fetch(server.url + path, { method: 'POST', headers: uploadHeaders(token), body: bytes });
      return { status: r.status, body: (await r.json()) as Record<string, unknown>, bytes: bytes.byteLength };
    };
    const get = async (path: string, token?: string): Promise<Response> =>
      fetch(server.url + path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

    let batchBytes = 0;
    const accepted = async (value: ReturnType<typeof orderedBatch>, expect: Record<string, number>): Promise<void> => {
      const r = await send(tok.a, '/v1/batches', value);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(
        { stored: r.body.stored, duplicates: r.body.duplicates, tombstoned: r.body.tombstoned, contiguousSeq: r.body.contiguousSeq, highestSeq: r.body.highestSeq },
        expect,
      );
      batchBytes += r.bytes;
    };

    // N good ordered batches of two windows each: seqs 1..2N.
    const N = 6;
    const good = Array.from({ length: N }, (_, i) => orderedBatch('gw-a', [windowRecord(2 * i + 1), windowRecord(2 * i + 2)]));
    for (let i = 0; i < N; i++) await accepted(good[i]!, { stored: 2, duplicates: 0, tombstoned: 0, contiguousSeq: 2 * i + 2, highestSeq: 2 * i + 2 });
    // Two re-sent batches: all duplicates (idempotent).
    await accepted(good[2]!, { stored: 0, duplicates: 2, tombstoned: 0, contiguousSeq: 12, highestSeq: 12 });
    await accepted(good[N - 1]!, { stored: 0, duplicates: 2, tombstoned: 0, contiguousSeq: 12, highestSeq: 12 });
    // Other kinds, and seqs 16..17 skipped (dropped on the gateway): tombstones.
    await accepted(orderedBatch('gw-a', [anomalyRecord(13), lateRecord(14), probeRecord(15)], [[16, 17]]),
      { stored: 3, duplicates: 0, tombstoned: 2, contiguousSeq: 17, highestSeq: 17 });
    // A live-lane anomaly ahead of the ordered lane: highest 20, contiguous stays 17.
    const live = { ...orderedBatch('gw-a', [anomalyRecord(20)]), lane: 'live' as const };
    await accepted(live, { stored: 1, duplicates: 0, tombstoned: 0, contiguousSeq: 17, highestSeq: 20 });

    // Refused: a gap, a bad token, a malformed body, a body naming another gateway, a body too large, an unknown path.
    const gap = await send(tok.a, '/v1/batches', orderedBatch('gw-a', [windowRecord(19)]));
    assert.deepEqual([gap.status, gap.body.code], [409, 'E_SEQ_GAP']);
    const badToken = await send(`weir_${'x'.repeat(43)}`, '/v1/batches', good[0]);
    assert.deepEqual([badToken.status, badToken.body.code], [401, 'E_UNAUTHENTICATED']);
    const truncatedCbor = deflateSync(Buffer.from(cborOf(good[0]!)).subarray(0, 20));
    const malformed = await fetch(server.url + '/v1/batches', { method: 'POST', headers: uploadHeaders(tok.a), body: truncatedCbor });
    assert.deepEqual([malformed.status, ((await malformed.json()) as { code: string }).code], [400, 'E_MALFORMED']);
    const wrong = await send(tok.b, '/v1/batches', good[0]);
    assert.deepEqual([wrong.status, wrong.body.code], [403, 'E_WRONG_GATEWAY']);
    const tooLarge = await headOnly(server.port, `POST /v1/batches HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tok.a}\r\n` +
      `content-type: application/cbor\r\ncontent-encoding: deflate\r\ncontent-length: ${1024 * 1024}\r\n\r\n`);
    assert.match(tooLarge, /^HTTP\/1\.1 413 /);
    assert.match(tooLarge, /"E_TOO_LARGE"/);
    const missing = await get('/nope/7');
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();

    // A heartbeat 1 s later, two checkpoint uploads (the second not newer) 2 s later, two reads.
    now = T0 + 1000;
    const hb = await send(tok.a, '/v1/heartbeats', HEARTBEAT);
    assert.equal(hb.status, 200);
    now = T0 + 2000;
    const snap: CheckpointSnapshot = {
      v: 1, gatewayId: 'gw-a', checkpointId: 3, consumedOffset: 300, committedAtMs: T0, nextSeq: 21, takenAtMs: T0,
      rows: { ns: ['w'], keys: ['k'], values: [Uint8Array.of(1, 2, 3)] },
    };
    const snapBody = encodeSnapshot(snap);
    for (const expectStored of [true, false]) {
      const r = await fetch(server.url + '/v1/checkpoints', { method: 'POST', headers: uploadHeaders(tok.a), body: snapBody });
      assert.deepEqual([r.status, ((await r.json()) as { stored: boolean }).stored], [200, expectStored]);
    }
    for (const path of ['/v1/fleet', '/v1/gateways/gw-a/status']) {
      const r = await get(path, tok.reader);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }

    // The scrape, 10 s after the service started.
    now = T0 + 10_000;
    const scrape = async (): Promise<Exposition & { text: string }> => {
      const r = await get('/metrics');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = await r.text();
      return { ...parseExposition(text), text };
    };
    const m1 = await scrape();
    for (const t of [tok.a, tok.b, tok.reader]) assert.ok(!m1.text.includes(t), 'no token in /metrics');
    const v = (e: Exposition, name: string, labels?: Record<string, string>): number | undefined => e.series.get(seriesKey(name, labels));

    const requests = (e: Exposition): Record<string, number> => Object.fromEntries([...e.series]
      .filter(([k]) => k.startsWith('weircloud_http_requests_total{'))
      .map(([k, n]) => [k.slice('weircloud_http_requests_total'.length), n]));
    assert.deepEqual(requests(m1), {
      '{route="batches",status_class="2xx"}': N + 4,
      '{route="batches",status_class="4xx"}': 5,
      '{route="heartbeats",status_class="2xx"}': 1,
      '{route="checkpoints",status_class="2xx"}': 2,
      '{route="fleet",status_class="2xx"}': 1,
      '{route="gateway_status",status_class="2xx"}': 1,
      '{route="unmatched",status_class="4xx"}': 1,
    });
    const rejected = Object.fromEntries([...m1.series].filter(([k, n]) => k.startsWith('weircloud_requests_rejected_total{') && n !== 0));
    assert.deepEqual(rejected, {
      'weircloud_requests_rejected_total{code="E_SEQ_GAP"}': 1,
      'weircloud_requests_rejected_total{code="E_UNAUTHENTICATED"}': 1,
      'weircloud_requests_rejected_total{code="E_MALFORMED"}': 1,
      'weircloud_requests_rejected_total{code="E_WRONG_GATEWAY"}': 1,
      'weircloud_requests_rejected_total{code="E_TOO_LARGE"}': 1,
      'weircloud_requests_rejected_total{code="E_NOT_FOUND"}': 1,
    });
    assert.equal(v(m1, 'weircloud_requests_rejected_total', { code: 'E_INTERNAL' }), 0, 'every code has a series, zero included');

    const expected: [string, Record<string, string> | undefined, number][] = [
      ['weircloud_batches_accepted_total', { lane: 'ordered' }, N + 3],
      ['weircloud_batches_accepted_total', { lane: 'live' }, 1],
      ['weircloud_batch_received_bytes_total', undefined, batchBytes],
      ['weircloud_records_stored_total', { kind: 'window' }, 2 * N],
      ['weircloud_records_stored_total', { kind: 'anomaly' }, 2],
      ['weircloud_records_stored_total', { kind: 'late' }, 1],
      ['weircloud_records_stored_total', { kind: 'degrade' }, 0],
      ['weircloud_records_stored_total', { kind: 'other' }, 1],
      ['weircloud_records_duplicate_total', undefined, 4],
      ['weircloud_records_tombstoned_total', undefined, 2],
      ['weircloud_heartbeats_total', undefined, 1],
      ['weircloud_checkpoint_snapshots_total', { result: 'stored' }, 1],
      ['weircloud_checkpoint_snapshots_total', { result: 'not_newer' }, 1],
      ['weircloud_checkpoint_snapshot_bytes_total', undefined, snapBody.byteLength],
      ['weircloud_gateways', undefined, 2],
      ['weircloud_gateway_highest_seq', { gateway: 'gw-a' }, 20],
      ['weircloud_gateway_contiguous_seq', { gateway: 'gw-a' }, 17],
      ['weircloud_gateway_seq_gap', { gateway: 'gw-a' }, 3],
      ['weircloud_gateway_last_seen_age_seconds', { gateway: 'gw-a' }, 9],
      ['weircloud_gateway_heartbeat_age_seconds', { gateway: 'gw-a' }, 9],
      ['weircloud_gateway_lag_seqs', { gateway: 'gw-a' }, HEARTBEAT.outbox.nextSeq - 1 - 17],
      ['weircloud_gateway_outbox_rows', { gateway: 'gw-a' }, HEARTBEAT.outbox.rows],
      ['weircloud_gateway_outbox_bytes', { gateway: 'gw-a' }, HEARTBEAT.outbox.bytes],
      ['weircloud_gateway_backlog_age_seconds', { gateway: 'gw-a' }, HEARTBEAT.outbox.oldestUnsentAgeMs! / 1000],
      ['weircloud_gateway_outbox_over_quota', { gateway: 'gw-a' }, 0],
      ['weircloud_gateway_outbox_dropped_rows_total', { gateway: 'gw-a' }, 7],
      ['weircloud_gateway_watermark_lag_seconds', { gateway: 'gw-a' }, HEARTBEAT.watermarkLagMs! / 1000],
      ['weircloud_gateway_checkpoint_id', { gateway: 'gw-a' }, 3],
      ['weircloud_gateway_checkpoint_age_seconds', { gateway: 'gw-a' }, 8],
      // gw-b registered, never heard from: its seqs, and no made-up ages.
      ['weircloud_gateway_highest_seq', { gateway: 'gw-b' }, 0],
      ['weircloud_gateway_contiguous_seq', { gateway: 'gw-b' }, 0],
      ['weircloud_gateway_seq_gap', { gateway: 'gw-b' }, 0],
      ['weircloud_storage_info', { backend: 'sqlite' }, 1],
      ['weircloud_storage_up', undefined, 1],
      ['weircloud_http_requests_in_flight', undefined, 1],
      ['weircloud_uptime_seconds', undefined, 10],
    ];
    assert.deepEqual(expected.map(([n, l]) => [n, l, v(m1, n, l)]), expected);
    for (const n of ['weircloud_gateway_last_seen_age_seconds', 'weircloud_gateway_heartbeat_age_seconds', 'weircloud_gateway_outbox_rows', 'weircloud_gateway_checkpoint_id']) {
      assert.equal(v(m1, n, { gateway: 'gw-b' }), undefined, `${n}: no sample for a gateway never heard from`);
    }
    assert.ok(v(m1, 'weircloud_process_resident_memory_bytes')! > 0);
    assert.ok(v(m1, 'weircloud_process_heap_bytes')! > 0);
    // Every family is one we named on purpose (a new one must be added here and to docs/OPERATIONS.md).
    assert.deepEqual([...m1.types.keys()].sort(), METRIC_NAMES.slice().sort());

    // /healthz: storage answers.
    const h = await get('/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok', backend: 'sqlite', storage: 'ok' });
    const m2 = await scrape();
    assert.equal(v(m2, 'weircloud_http_requests_total', { route: 'metrics', status_class: '2xx' }), 1, 'the first scrape is counted');
    assert.equal(v(m2, 'weircloud_http_requests_total', { route: 'healthz', status_class: '2xx' }), 1);

    // Storage gone: /healthz is 503, /metrics still answers with the counters and storage_up 0.
    await storage.close();
    const down = await get('/healthz');
    assert.equal(down.status, 503);
    assert.deepEqual(await down.json(), { status: 'unavailable', backend: 'sqlite', storage: 'unreachable' });
    const m3 = await scrape();
    assert.equal(v(m3, 'weircloud_storage_up'), 0);
    assert.equal(v(m3, 'weircloud_gateway_highest_seq', { gateway: 'gw-a' }), undefined);
    assert.equal(v(m3, 'weircloud_records_stored_total', { kind: 'window' }), 2 * N);
    assert.equal(v(m3, 'weircloud_http_requests_total', { route: 'healthz', status_class: '5xx' }), 1);
    // The transition is logged once (by whichever saw it first), without secrets.
    assert.deepEqual(logger.entries.filter((e) => e.msg === 'storage not usable').map((e) => e.fields?.via), ['/healthz']);
    for (const t of [tok.a, tok.b, tok.reader]) assert.ok(!JSON.stringify(logger.entries).includes(t), 'no token in the log');
  } finally {
    await server.close();
    tmp.cleanup();
  }
});

test('/healthz is 503 when storage does not answer in time; overlapping scrapes share one storage read', async () => {
  const tmp = tempDir();
  const storage = await SqliteStorage.open({ path: tmp.file('c.db'), synchronous: 'NORMAL' });
  try {
    await addTestCredentials(storage);
    const timer = new ManualTimer(0);
    let reads = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const slow = Object.create(storage, {
      ping: { value: () => new Promise<void>(() => undefined) }, // a database that never answers
      gateways: { value: async () => { reads++; await held; return storage.gateways(); } },
    }) as typeof storage;
    const app = createCloudSync({ storage: slow, clock: timer, timer, healthTimeoutMs: 1500 });
    const pending = app.inject({ method: 'GET', url: '/healthz' });
    while (timer.armed === 0) await new Promise<void>((r) => setImmediate(r));
    timer.advance(1500);
    const r = await pending;
    assert.equal(r.status, 503);
    assert.deepEqual(JSON.parse(String(r.body)), { status: 'unavailable', backend: 'sqlite', storage: 'timeout' });
    assert.equal(timer.armed, 0, 'the health timer is cleared');

    const scrapes = [app.inject({ method: 'GET', url: '/metrics' }), app.inject({ method: 'GET', url: '/metrics' })];
    while (reads === 0) await new Promise<void>((r) => setImmediate(r));
    release();
    const [a, b] = await Promise.all(scrapes);
    assert.equal(reads, 1, 'two overlapping scrapes, one storage read');
    assert.equal(parseExposition(String(a!.body)).series.get('weircloud_gateways'), 2);
    assert.equal(parseExposition(String(b!.body)).series.get('weircloud_gateways'), 2);
  } finally {
    await storage.close();
    tmp.cleanup();
  }
});

/** Every family GET /metrics may report (docs/OPERATIONS.md lists them). */
const METRIC_NAMES = [
  'weircloud_http_requests_total', 'weircloud_requests_rejected_total', 'weircloud_batches_accepted_total', 'weircloud_batch_received_bytes_total',
  'weircloud_records_stored_total', 'weircloud_records_duplicate_total', 'weircloud_records_tombstoned_total', 'weircloud_heartbeats_total',
  'weircloud_checkpoint_snapshots_total', 'weircloud_checkpoint_snapshot_bytes_total',
  'weircloud_gateways', 'weircloud_gateway_highest_seq', 'weircloud_gateway_contiguous_seq', 'weircloud_gateway_seq_gap',
  'weircloud_gateway_last_seen_age_seconds', 'weircloud_gateway_heartbeat_age_seconds', 'weircloud_gateway_lag_seqs',
  'weircloud_gateway_outbox_rows', 'weircloud_gateway_outbox_bytes', 'weircloud_gateway_backlog_age_seconds', 'weircloud_gateway_outbox_over_quota',
  'weircloud_gateway_outbox_dropped_rows_total', 'weircloud_gateway_watermark_lag_seconds', 'weircloud_gateway_checkpoint_id',
  'weircloud_gateway_checkpoint_age_seconds',
  'weircloud_storage_info', 'weircloud_storage_up', 'weircloud_http_requests_in_flight', 'weircloud_process_resident_memory_bytes',
  'weircloud_process_heap_bytes', 'weircloud_uptime_seconds',
];
