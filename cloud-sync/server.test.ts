import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createCloudSync } from './app.ts';
import { listen } from './server.ts';
import { SqliteStorage } from './storage/sqlite-storage.ts';
import { encodeBody } from './protocol.ts';
import { addTestCredentials, orderedBatch, tempDir, windowRecord } from './test-support.ts';

test('graceful shutdown: a request in flight completes (Connection: close), new connections are refused, storage closes last', async () => {
  const tmp = tempDir();
  const storage = await SqliteStorage.open({ path: tmp.file('c.db'), synchronous: 'NORMAL' });
  const tok = await addTestCredentials(storage);
  const app = createCloudSync({ storage });
  const server = await listen(app, { graceMs: 5000 });
  try {
    const body = Buffer.from(encodeBody(orderedBatch('gw-a', [windowRecord(1), windowRecord(2)])));
    const s = net.connect(server.port, '127.0.0.1');
    await once(s, 'connect');
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const closed = once(s, 'close');
    s.write(`POST /v1/batches HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tok.a}\r\ncontent-type: application/cbor\r\n` +
      `content-encoding: deflate\r\ncontent-length: ${body.byteLength}\r\n\r\n`);
    s.write(body.subarray(0, 5));
    while (app.inFlight === 0) await new Promise<void>((r) => setImmediate(r)); // the request is being handled
    const stopping = server.close();
    // New connections are refused from now on.
    const refused = await new Promise<string>((resolve) => {
      const c = net.connect(server.port, '127.0.0.1');
      c.on('error', (e: Error & { code?: string }) => resolve(e.code ?? 'error'));
      c.on('connect', () => {
        c.destroy();
        resolve('connected');
      });
    });
    assert.equal(refused, 'ECONNREFUSED');
    s.write(body.subarray(5));
    await closed;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /connection: close/i);
    assert.match(answer, /"stored":2/);
    await stopping;
    await assert.rejects(storage.counts(), 'storage was closed after the server');
  } finally {
    tmp.cleanup();
  }
});
