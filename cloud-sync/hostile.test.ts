/**
 * Hundreds of malformed and hostile requests — truncated, bit-flipped,
 * huge, deflate bombs, wrong types, wrong versions, wrong media, wrong or
 * missing credentials, seq gaps, stalled bodies over real sockets — each
 * answered with its exact status and code, and the store unchanged after
 * all of them.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { deflateSync } from 'node:zlib';
import { Encoder } from 'cbor-x';
import { createCloudSync, type CloudSync } from './app.ts';
import { listen, type RunningServer } from './server.ts';
import { SqliteStorage } from './storage/sqlite-storage.ts';
import {
  ERROR_STATUS, WireError, decodeCbor, encodeBody, inflateBody, parseBatch, type WireErrorCode,
} from './protocol.ts';
import { addTestCredentials, anomalyRecord, orderedBatch, tempDir, uploadHeaders, windowRecord } from './test-support.ts';
import type { StorageCounts } from './storage/storage-types.ts';
import { seededRandom } from './seeded-random.ts';

const rng = seededRandom;

const raw = new Encoder({ useRecords: false, mapsAsObjects: true });
const CONTIGUOUS = 3;

/** What the service must answer to a body from gw-a, by the protocol's own rules; null when it would be accepted. */
function expectedFor(body: Uint8Array): WireErrorCode | null {
  try {
    const b = parseBatch(decodeCbor(inflateBody(body)));
    if (b.gatewayId !== 'gw-a') return 'E_WRONG_GATEWAY';
    if (b.lane === 'ordered' && b.firstSeq > CONTIGUOUS + 1) return 'E_SEQ_GAP';
    return null;
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
}

describe('hostile and malformed requests', () => {
  let tmp: ReturnType<typeof tempDir>;
  let app: CloudSync;
  let server: RunningServer;
  let tok: { a: string; b: string; reader: string };
  let before0: StorageCounts;
  let answered = 0;
  const valid = orderedBatch('gw-a', [windowRecord(4), anomalyRecord(5), windowRecord(6)]);
  const validBody = encodeBody(valid);

  async function expect(name: string, req: Parameters<CloudSync['inject']>[0], code: WireErrorCode): Promise<void> {
    const r = await app.inject(req);
    const b = JSON.parse(String(r.body)) as { code: string; message: string };
    assert.deepEqual([name, r.status, b.code], [name, ERROR_STATUS[code], code], `${name}: ${b.message}`);
    answered++;
  }
  const upload = (body: Uint8Array | string, headers: Record<string, string> = uploadHeaders(tok.a)) => ({ method: 'POST', url: '/v1/batches', headers, body });

  before(async () => {
    tmp = tempDir();
    const storage = await SqliteStorage.open({ path: tmp.file('c.db'), synchronous: 'NORMAL' });
    tok = await addTestCredentials(storage);
    app = createCloudSync({ storage, limits: { body: { timeoutMs: 300, maxBytes: 1024 * 1024, maxInflatedBytes: 4 * 1024 * 1024 } } });
    server = await listen(app, { headersTimeoutMs: 300, requestTimeoutMs: 2000, timeoutCheckIntervalMs: 100 });
    const ok = await app.inject(upload(encodeBody(orderedBatch('gw-a', [windowRecord(1), windowRecord(2), windowRecord(3)]))));
    assert.equal(ok.status, 200);
    before0 = await storage.counts();
  });
  after(async () => {
    await server.close();
    tmp.cleanup();
  });

  test('every truncation of a valid body is E_BAD_DEFLATE', async () => {
    for (let n = 0; n < validBody.byteLength; n++) await expect(`truncated to ${n}`, upload(validBody.subarray(0, n)), 'E_BAD_DEFLATE');
  });

  test('single bit flips in the compressed body are refused (by inflate, CBOR or shape)', async () => {
    const r = rng(7);
    let sent = 0;
    for (let i = 0; i < 300; i++) {
      const body = Uint8Array.from(validBody);
      const bit = Math.floor(r() * body.byteLength * 8);
      body[bit >> 3]! ^= 1 << (bit & 7);
      const code = expectedFor(body);
      if (code === null) continue; // a padding bit after the last deflate block: the same body
      await expect(`flip ${bit}`, upload(body), code);
      sent++;
    }
    assert.ok(sent >= 290, `only ${sent} of 300 flips changed the body`);
  });

  test('bit flips and byte garbage inside the CBOR (re-deflated) get the code the protocol prescribes', async () => {
    const cbor = raw.encode(valid);
    const r = rng(11);
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const c = Uint8Array.from(cbor);
      const at = Math.floor(r() * c.byteLength);
      if (i % 3 === 0) c[at] = Math.floor(r() * 256);
      else c[at]! ^= 1 << Math.floor(r() * 8);
      const body = deflateSync(c);
      const code = expectedFor(body);
      if (code === null) continue; // a flip inside a payload byte string: still a valid batch, not sent
      await expect(`cbor byte ${at}`, upload(body), code);
      refused++;
    }
    assert.ok(refused >= 100, `only ${refused} of 300 mutations were invalid`);
  });

  test('not CBOR at all, wrong versions and wrong types', async () => {
    const r = rng(3);
    for (let i = 0; i < 50; i++) {
      const junk = new Uint8Array(1 + Math.floor(r() * 200)).map(() => Math.floor(r() * 256));
      const body = deflateSync(junk);
      await expect(`junk ${i}`, upload(body), expectedFor(body) ?? 'E_INTERNAL');
    }
    const base = valid as unknown as Record<string, unknown>;
    const rec0 = valid.records[0] as unknown as Record<string, unknown>;
    const cases: [string, unknown, WireErrorCode][] = [
      ['v 0', { ...base, v: 0 }, 'E_WIRE_VERSION'], ['v 2', { ...base, v: 2 }, 'E_WIRE_VERSION'], ['v null', { ...base, v: null }, 'E_WIRE_VERSION'],
      ['v text', { ...base, v: '1' }, 'E_WIRE_VERSION'], ['no v', { gatewayId: 'gw-a' }, 'E_WIRE_VERSION'],
      ['array', [1, 2], 'E_INVALID'], ['string', 'batch', 'E_INVALID'], ['null', null, 'E_INVALID'], ['number', 7, 'E_INVALID'],
      ['gatewayId number', { ...base, gatewayId: 7 }, 'E_INVALID'], ['lane number', { ...base, lane: 1 }, 'E_INVALID'],
      ['records map', { ...base, records: { a: 1 } }, 'E_INVALID'], ['skipped text', { ...base, skipped: 'x' }, 'E_INVALID'],
      ['skipped triple', { ...base, skipped: [[1, 2, 3]] }, 'E_INVALID'],
      ['skipped huge list', { ...base, skipped: new Array(10_001).fill([1, 1]) }, 'E_TOO_LARGE'], ['sentAtMs text', { ...base, sentAtMs: 'now' }, 'E_INVALID'],
      ['record null', { ...base, records: [null] }, 'E_INVALID'], ['record array', { ...base, records: [[4]] }, 'E_INVALID'],
      ['seq negative', { ...base, records: [{ ...rec0, seq: -4 }] }, 'E_INVALID'],
      ['seq bigint huge', { ...base, records: [{ ...rec0, seq: 2n ** 63n }] }, 'E_INVALID'],
      ['payload number', { ...base, records: [{ ...rec0, payload: 5 }] }, 'E_INVALID'],
      ['payload huge', { ...base, records: [{ ...rec0, payload: new Uint8Array(300 * 1024) }] }, 'E_TOO_LARGE'],
      ['series huge', { ...base, records: [{ ...rec0, series: 'x'.repeat(5000) }] }, 'E_INVALID'],
      ['kind empty', { ...base, records: [{ ...rec0, kind: '' }] }, 'E_INVALID'],
      ['extra field', { ...base, admin: true }, 'E_INVALID'],
      ['a Map (tag 259)', new Map<unknown, unknown>([[1, 2]]), 'E_INVALID'],
      ['a Date', new Date(0), 'E_INVALID'],
      ['gap', orderedBatch('gw-a', [windowRecord(9)]), 'E_SEQ_GAP'],
      ['hole inside', { ...base, lastSeq: 7 }, 'E_SEQ_INVALID'],
      ['other gateway named', { ...base, gatewayId: 'gw-b' }, 'E_WRONG_GATEWAY'],
    ];
    for (const [name, v, code] of cases) await expect(name, upload(deflateSync(raw.encode(v))), code);
  });

  test('size limits: Content-Length, real bytes and a deflate bomb', async () => {
    await expect('declared 100 MB', { ...upload(validBody), headers: { ...uploadHeaders(tok.a), 'content-length': String(100 * 1024 * 1024) } }, 'E_TOO_LARGE');
    await expect('2 MB of bytes', upload(new Uint8Array(2 * 1024 * 1024)), 'E_TOO_LARGE');
    await expect('bomb: 64 MB of zeros', upload(deflateSync(new Uint8Array(64 * 1024 * 1024))), 'E_TOO_LARGE');
    await expect('content-length garbage', { ...upload(validBody), headers: { ...uploadHeaders(tok.a), 'content-length': '12abc' } }, 'E_MALFORMED');
  });

  test('media types and credentials are checked before the body', async () => {
    const h = uploadHeaders(tok.a);
    await expect('json', upload(validBody, { ...h, 'content-type': 'application/json' }), 'E_UNSUPPORTED_MEDIA');
    await expect('no encoding', upload(validBody, { ...h, 'content-encoding': '' }), 'E_UNSUPPORTED_MEDIA');
    await expect('gzip', upload(validBody, { ...h, 'content-encoding': 'gzip' }), 'E_UNSUPPORTED_MEDIA');
    await expect('no token', upload(validBody, { 'content-type': 'application/cbor', 'content-encoding': 'deflate' }), 'E_UNAUTHENTICATED');
    await expect('basic auth', upload(validBody, { ...h, authorization: 'Basic Zm9vOmJhcg==' }), 'E_UNAUTHENTICATED');
    await expect('unknown token', upload(validBody, { ...h, authorization: `Bearer weir_${'A'.repeat(43)}` }), 'E_UNAUTHENTICATED');
    await expect('reader token', upload(validBody, uploadHeaders(tok.reader)), 'E_FORBIDDEN');
    await expect('gw-b token', upload(validBody, uploadHeaders(tok.b)), 'E_WRONG_GATEWAY');
    await expect('heartbeat with a batch body', { ...upload(validBody), url: '/v1/heartbeats' }, 'E_INVALID');
    await expect('checkpoint with a batch body', { ...upload(validBody), url: '/v1/checkpoints' }, 'E_INVALID');
  });

  /** Sends raw bytes over a socket and resolves with everything the server answered before closing. */
  function rawExchange(bytes: string | Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = net.connect(server.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', reject);
      s.write(bytes);
    });
  }

  test('over a real socket: a stalled body gets 408 and the connection closes; stalled headers are cut; garbage is 400', async () => {
    const head = `POST /v1/batches HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tok.a}\r\ncontent-type: application/cbor\r\n` +
      `content-encoding: deflate\r\ncontent-length: ${validBody.byteLength}\r\n\r\n`;
    const stalled = await rawExchange(Buffer.concat([Buffer.from(head), Buffer.from(validBody.subarray(0, 10))]));
    assert.match(stalled, /^HTTP\/1\.1 408 /);
    assert.match(stalled, /"code":"E_BODY_TIMEOUT"/);
    const slowHeaders = await rawExchange('POST /v1/batches HTTP/1.1\r\nhost: x\r\nx-slow: ');
    assert.match(slowHeaders, /^HTTP\/1\.1 408 /);
    const garbage = await rawExchange('\u0000\u0001 NOT HTTP\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    answered += 3;
  });

  test('after all of that the store is exactly as it was', async () => {
    assert.ok(answered >= 700, `answered ${answered}`);
    assert.deepEqual(await app.storage.counts(), before0);
  });
});
