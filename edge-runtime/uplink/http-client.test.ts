import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Timer } from '../state/group-commit-log.ts';
import { httpRequest, type HttpTimeouts } from './http-client.ts';
import { UplinkError } from './uplink-errors.ts';

/** A timer the test fires by hand, phase by phase (each phase has its own distinct duration). */
class PhaseTimer implements Timer {
  tasks: { ms: number; fn: () => void; id: number }[] = [];
  private n = 0;
  set(fn: () => void, ms: number): unknown {
    const id = ++this.n;
    this.tasks.push({ ms, fn, id });
    return id;
  }
  clear(h: unknown): void {
    this.tasks = this.tasks.filter((t) => t.id !== h);
  }
  armed(ms: number): boolean {
    return this.tasks.some((t) => t.ms === ms);
  }
  /** Waits (on the event loop, no clock) until a task of `ms` is armed, then runs it. */
  async fire(ms: number): Promise<void> {
    while (!this.armed(ms)) await new Promise<void>((r) => setImmediate(r));
    const t = this.tasks.find((x) => x.ms === ms)!;
    this.clear(t.id);
    t.fn();
  }
}

const T: HttpTimeouts = { connectMs: 1001, responseMs: 1002, bodyIdleMs: 1003, totalMs: 1004 };

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof UplinkError ? `${e.code}${e.phase ? `/${e.phase}` : ''}` : `other: ${String(e)}`;
  }
  return 'no error';
}

/** A socket that never connects: what a blackholed address (SYNs dropped) looks like to the client. */
class NeverConnects extends Duplex {
  connecting = true;
  override _read(): void {}
  override _write(_c: unknown, _e: BufferEncoding, cb: (e?: Error | null) => void): void {
    cb();
  }
}

describe('httpRequest: every socket phase has a deadline', () => {
  let server: http.Server;
  let blackhole: net.Server;
  let port = 0;
  let holePort = 0;
  const held: net.Socket[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/ok') return res.end('fine');
      if (req.url === '/big') return res.end('x'.repeat(5000));
      if (req.url === '/stall') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        return; // never ends
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    blackhole = net.createServer((s) => held.push(s)); // accepts, reads nothing, answers nothing
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    holePort = (blackhole.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of held) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => blackhole.close(() => r()));
  });

  const req = (timer: Timer, path: string, extra: Partial<Parameters<typeof httpRequest>[0]> = {}) => httpRequest({
    url: new URL(`http://127.0.0.1:${port}${path}`), method: 'GET', headers: {}, timeouts: T, timer, maxResponseBytes: 1000, ...extra,
  });

  test('a normal exchange resolves and leaves no timer armed', async () => {
    const t = new PhaseTimer();
    const r = await req(t, '/ok');
    assert.deepEqual([r.status, r.body.toString()], [200, 'fine']);
    assert.equal(t.tasks.length, 0);
  });

  test('connect: a socket that never connects is given up at the connect deadline', async () => {
    const t = new PhaseTimer();
    const p = req(t, '/ok', { createConnection: () => new NeverConnects() });
    await t.fire(T.connectMs);
    assert.equal(await codeOf(p), 'E_UPLINK_TIMEOUT/connect');
    assert.equal(t.tasks.length, 0);
  });

  test('response: a server that accepts and never answers is given up at the response deadline', async () => {
    const t = new PhaseTimer();
    const p = req(t, '/', { url: new URL(`http://127.0.0.1:${holePort}/`) });
    await t.fire(T.responseMs);
    assert.equal(await codeOf(p), 'E_UPLINK_TIMEOUT/response');
  });

  test('body: a response that stalls midway is given up at the body idle deadline', async () => {
    const t = new PhaseTimer();
    const p = req(t, '/stall');
    await t.fire(T.bodyIdleMs);
    assert.equal(await codeOf(p), 'E_UPLINK_TIMEOUT/body');
  });

  test('total: the whole exchange has a deadline too', async () => {
    const t = new PhaseTimer();
    const p = req(t, '/', { url: new URL(`http://127.0.0.1:${holePort}/`) });
    await t.fire(T.totalMs);
    assert.equal(await codeOf(p), 'E_UPLINK_TIMEOUT/total');
  });

  test('a response over the size limit, a refused connection and an aborted request fail with their codes', async () => {
    assert.equal(await codeOf(req(new PhaseTimer(), '/big')), 'E_UPLINK_PROTOCOL');
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    assert.equal(await codeOf(req(new PhaseTimer(), '/', { url: new URL(`http://127.0.0.1:${freePort}/`) })), 'E_UPLINK_NETWORK');
    const ac = new AbortController();
    const t = new PhaseTimer();
    const p = req(t, '/', { url: new URL(`http://127.0.0.1:${holePort}/`), signal: ac.signal });
    while (!t.armed(T.responseMs)) await new Promise<void>((r) => setImmediate(r));
    ac.abort();
    assert.equal(await codeOf(p), 'E_UPLINK_NETWORK');
    assert.equal(t.tasks.length, 0);
  });
});
