/**
 * `weir demo` as a user runs it, in a pipe (no TTY): it starts a cloud, a
 * gateway and a simulated fleet on free ports — even when the usual ports
 * are taken (the test takes 5683/udp, 8080 and 8787 itself when it can;
 * 1883 is often a local Mosquitto) — prints where everything is, and
 * status lines; the uplink is switched off for a while and on again
 * (--offline-every); window results and anomalies reach the cloud (checked
 * on the cloud's query API with the reader token the banner points at); on
 * SIGINT it stops everything and exits 0 with a one-line summary that
 * agrees with the cloud's database; no process it started is left; no
 * token is printed or logged.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';

const ROOT = join(import.meta.dirname, '..');
const root = mkdtempSync(join(tmpdir(), 'weir-demo-'));
const held: (Server | UdpSocket)[] = [];
after(async () => {
  for (const h of held) h.close();
  if (process.env.WEIR_KEEP_TEST_DIRS) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
});

/** Takes a usual port if it is free (so the demo cannot have it); false when someone else has it already. */
async function holdTcp(port: number): Promise<boolean> {
  const s = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) held.push(s);
  return ok;
}
async function holdUdp(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) held.push(s);
  return ok;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Processes (Linux /proc) whose command line mentions `needle` or whose process group is one of `groups`. */
function leftovers(needle: string, groups: readonly number[]): string[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return []; // no /proc: the pid checks still run
  }
  const out: string[] = [];
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // a zombie is already dead
      if (cmd.includes(needle) || groups.includes(pgid)) out.push(`${pid} (pgid ${pgid}): ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('weir demo: starts on free ports, results and anomalies reach the cloud, SIGINT stops everything cleanly', { timeout: 180_000 }, async (t) => {
  const taken = [1883, 5683, 8080, 8787];
  const heldNow = [await holdUdp(5683), await holdTcp(5683), await holdTcp(8080), await holdTcp(8787)];
  t.diagnostic(`held by the test: 5683/udp ${heldNow[0]}, 5683/tcp ${heldNow[1]}, 8080 ${heldNow[2]}, 8787 ${heldNow[3]}`);

  const dir = join(root, 'demo');
  const child = spawn(process.execPath, ['--import', 'tsx', 'edge-runtime/cli/main.ts', 'demo', '--duration', '150s', '--dir', dir, '--fault-rate', '1500', '--time-scale', '20',
    '--offline-every', '10s', '--offline-for', '3s'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) if (w.pred(l)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  });
  const next = (pred: (l: string) => boolean): Promise<string> => {
    const seen = lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return Promise.race([
      new Promise<string>((resolve) => waiters.push({ pred, resolve })),
      exited.then(([code]) => {
        throw new Error(`weir demo exited (${code}) early:\n${lines.join('\n')}\n${stderr}`);
      }),
    ]);
  };
  try {
    // The banner: pids, the cloud's URL and the reader token file (in the ready-to-paste curl line).
    const procs = await next((l) => l.includes('processes') && l.includes('gateway pid'));
    const pids = [...procs.matchAll(/(\w+) pid (\d+)/g)].map((m) => ({ name: m[1]!, pid: Number(m[2]) }));
    assert.deepEqual(pids.map((p) => p.name), ['cloud', 'gateway', 'simulator']);
    const curl = await next((l) => l.includes('curl') && l.includes('/v1/results'));
    const m = /\$\(cat ([^)]+)\)"\s+'(http:\/\/127\.0\.0\.1:(\d+))\/v1\/results/.exec(curl);
    assert.ok(m !== null, curl);
    const [, tokenFile, cloud] = m;
    const token = readFileSync(isAbsolute(tokenFile!) ? tokenFile! : join(ROOT, tokenFile!), 'utf8').trim();
    assert.ok(token.length >= 20, 'the reader token file holds a token');

    // Every port it picked: none of the usual ones.
    const banner = lines.join('\n');
    const ports = [...banner.matchAll(/127\.0\.0\.1:(\d+)/g)].map((x) => Number(x[1]));
    const coap = JSON.parse(readFileSync(join(dir, 'coap-devices.json'), 'utf8')) as { url: string }[];
    ports.push(...coap.map((e) => Number(new URL(e.url).port)));
    assert.ok(ports.length >= 4, banner);
    for (const p of ports) assert.ok(!taken.includes(p), `the demo used port ${p}`);

    // The uplink is switched off for 3 s (7 s in), and on again: the demo says so, the gateway goes on.
    await next((l) => l.startsWith('weir demo: uplink switched off'));
    await next((l) => l.startsWith('weir demo: uplink back on'));

    // Status lines until the cloud has window results and anomalies (looked up on the query API at each line).
    const get = async (path: string): Promise<unknown[]> => {
      const res = await fetch(`${cloud}${path}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, path);
      const body = (await res.json()) as { results?: unknown[]; anomalies?: unknown[] };
      return body.results ?? body.anomalies ?? [];
    };
    let inCloud = { results: 0, anomalies: 0 };
    await next((l) => {
      if (!/readings .* windows \d+ .*anomalies [1-9]/.test(l)) return false;
      void Promise.all([get('/v1/results?limit=5'), get('/v1/anomalies?limit=5')]).then(([r, a]) => {
        inCloud = { results: r.length, anomalies: a.length };
      }, () => undefined);
      return inCloud.results > 0 && inCloud.anomalies > 0;
    });
    const status = lines.filter((l) => /^\s+\d+s\s+readings/.test(l));
    t.diagnostic(`status: ${status[status.length - 1]}`);

    child.kill('SIGINT');
    const [code, signal] = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0, `${lines.slice(-5).join('\n')}\n${stderr}`);
    const summary = lines.find((l) => l.startsWith('weir demo: done after'));
    assert.ok(summary !== undefined, lines.slice(-5).join('\n'));
    const s = /readings (\d+), windows (\d+), anomalies (\d+), rows in the cloud (\d+) of (\d+) the gateway committed(?: \((\d+) wait in its outbox for the next start\))?$/.exec(summary);
    assert.ok(s !== null, summary);
    const [readings, windows, anomalies, cloudRows, issued] = s.slice(1, 6).map(Number) as [number, number, number, number, number];
    const waiting = Number(s[6] ?? 0);
    assert.ok(readings > 0 && windows > 0 && anomalies > 0 && cloudRows > 0, summary);
    // Every committed row is in the cloud or waits in the outbox (or both: sent, ack lost at the stop).
    assert.ok(cloudRows <= issued && cloudRows + waiting >= issued, summary);
    t.diagnostic(summary);

    // The cloud's database agrees with the summary: rows 1..N, each once.
    const db = new Database(join(dir, 'cloud.db'), { readonly: true });
    const r = db.prepare('SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS top FROM records').get() as { n: number; top: number };
    db.close();
    assert.deepEqual(r, { n: cloudRows, top: cloudRows });

    // Nothing left running: not the children, not what they started (the simulator's libcoap servers share its group).
    for (const p of pids) assert.equal(alive(p.pid), false, `${p.name} (pid ${p.pid}) is still running`);
    assert.deepEqual(leftovers(dir, pids.map((p) => p.pid)), []);

    // Secrets: 0600 files, never on the terminal, never in the logs.
    const secrets = ['reader.token', 'gateway.token', 'device.secret', 'coap-psk.secret'].map((f) => join(dir, f));
    for (const f of secrets) assert.equal(statSync(f).mode & 0o077, 0, `${f} is readable by others`);
    const logs = readdirSync(join(dir, 'logs')).map((f) => readFileSync(join(dir, 'logs', f), 'utf8')).join('\n');
    for (const f of secrets) {
      const v = readFileSync(f, 'utf8').trim();
      assert.ok(!banner.includes(v) && !lines.join('\n').includes(v) && !stderr.includes(v) && !logs.includes(v), `${f} leaked`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
});
