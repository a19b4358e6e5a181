import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { FaultProxy } from './support/fault-proxy.ts';

/** An echo server: what the proxy forwards comes back. */
let echo: net.Server;
let echoPort = 0;
before(async () => {
  echo = net.createServer((s) => s.pipe(s));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as net.AddressInfo).port;
});
after(() => echo.close());

async function roundTrip(port: number, payload: Buffer, timeoutMs = 2000): Promise<{ got: Buffer | null; error: string | null }> {
  const s = net.connect(port, '127.0.0.1');
  s.setTimeout(timeoutMs);
  const chunks: Buffer[] = [];
  let len = 0;
  return await new Promise((resolve) => {
    s.on('connect', () => s.write(payload));
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      len += d.length;
      if (len >= payload.length) {
        s.destroy();
        resolve({ got: Buffer.concat(chunks), error: null });
      }
    });
    s.on('timeout', () => {
      s.destroy();
      resolve({ got: null, error: 'timeout' });
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ got: null, error: e.code ?? e.message }));
    s.on('close', () => resolve({ got: len >= payload.length ? Buffer.concat(chunks) : null, error: len >= payload.length ? null : 'closed' }));
  });
}

describe('FaultProxy', () => {
  test('pass forwards both ways; cut resets; blackhole swallows without closing', async () => {
    const p = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
    try {
      const data = Buffer.from('hello through the proxy');
      assert.deepEqual((await roundTrip(p.port, data)).got, data);
      p.setMode('cut');
      assert.equal((await roundTrip(p.port, data)).error, 'ECONNRESET');
      p.setMode('blackhole');
      // The client's own timeout is the only way it learns: nothing comes back, nothing closes.
      assert.equal((await roundTrip(p.port, data, 200)).error, 'timeout');
      p.setMode('pass');
      assert.deepEqual((await roundTrip(p.port, data)).got, data);
      assert.ok(p.stats.resets >= 1);
    } finally {
      await p.close();
    }
  });

  test('cutting resets connections already open', async () => {
    const p = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
    try {
      const s = net.connect(p.port, '127.0.0.1');
      await once(s, 'connect');
      s.write('x');
      await once(s, 'data');
      const err = once(s, 'error');
      p.setMode('cut');
      const [e] = (await err) as [NodeJS.ErrnoException];
      assert.equal(e.code, 'ECONNRESET');
    } finally {
      await p.close();
    }
  });

  test('bandwidth cap and latency slow a transfer down by at least what they promise', async () => {
    const p = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
    try {
      p.setBandwidth(200_000);
      p.setLatency(20);
      const data = Buffer.alloc(40_000, 7);
      const t = performance.now();
      const r = await roundTrip(p.port, data, 10_000);
      const ms = performance.now() - t;
      assert.deepEqual(r.got, data);
      // 40 kB up and 40 kB down at 200 kB/s each: ≥ 200 ms each way, plus 20 ms latency per chunk.
      assert.ok(ms >= 390, `took only ${ms} ms`);
    } finally {
      await p.close();
    }
  });

  test('flapping cycles modes on its schedule and ends in the last one', async () => {
    const p = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
    try {
      const seen: string[] = [];
      const orig = p.setMode.bind(p);
      const done = new Promise<void>((resolve) => {
        p.setMode = (m) => {
          seen.push(m);
          orig(m);
          if (seen.length === 3) resolve();
        };
      });
      p.flap([{ mode: 'cut', ms: 5 }, { mode: 'blackhole', ms: 5 }, { mode: 'pass', ms: 5 }], false);
      await done;
      assert.deepEqual(seen, ['cut', 'blackhole', 'pass']);
      assert.equal(p.currentMode, 'pass');
    } finally {
      await p.close();
    }
  });
});
