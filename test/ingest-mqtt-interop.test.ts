/**
 * Interop with Mosquitto's own command-line clients (Debian
 * `mosquitto-clients`, libmosquitto 2.0) against the embedded broker:
 * `mosquitto_pub` at QoS 0/1/2 over MQTT 3.1.1 and 3.1, plain and TLS;
 * `mosquitto_sub` receiving commands at QoS 0/1/2; and the refusals (bad
 * secret, MQTT 5, a subscription outside the device's command topic).
 * Skipped, and saying so, where the clients are not installed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CredentialsFile } from '../edge-runtime/ingest/mqtt/credentials-file.ts';
import { DeviceAuthenticator } from '../edge-runtime/ingest/mqtt/device-authenticator.ts';
import { selfSignedCert, startTestGateway, tempDir, until, type TestGateway } from './support/mqtt-ingest-harness.ts';

function installed(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--help'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined && (e as { code?: string }).code !== 'ENOENT';
  }
}
const skip = installed('mosquitto_pub') && installed('mosquitto_sub') ? false : 'mosquitto_pub/mosquitto_sub not installed (Debian mosquitto-clients)';

const T = 1_767_225_600_000;
const tmp = tempDir();
const secrets: Record<string, string> = {};
let gw: TestGateway;
let cafile = '';

before(async () => {
  if (skip !== false) return;
  const file = CredentialsFile.load(tmp.file('credentials.json'), { createIfMissing: true });
  for (const id of ['env-0001', 'env-0002', 'env-0003']) secrets[id] = await file.add(id);
  file.save();
  const tls = selfSignedCert(tmp.dir);
  cafile = tmp.file('cert.pem');
  gw = await startTestGateway({ auth: new DeviceAuthenticator({ credentials: file }), listen: { port: 0, tls: { port: 0, ...tls } } });
});
after(async () => {
  await gw?.close();
  tmp.cleanup();
});

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out: `${stdout}${stderr}` });
    });
  });
}

const as = (id: string, secret = secrets[id]!): string[] => ['-h', '127.0.0.1', '-p', String(gw.ports.tcp), '-i', id, '-u', id, '-P', secret];

describe('mosquitto clients against the embedded broker', { skip }, () => {
  test('mosquitto_pub at QoS 0, 1 and 2 over MQTT 3.1.1 and 3.1', async () => {
    let n = 0;
    const want: number[] = [];
    for (const version of ['mqttv311', 'mqttv31']) {
      for (const qos of ['0', '1', '2']) {
        const v = ++n;
        want.push(v);
        const r = await run('mosquitto_pub', [...as('env-0001'), '-V', version, '-q', qos, '-t', 'weir/env-0001/telemetry', '-m', JSON.stringify({ ts: T + v, temperature: v })]);
        assert.equal(r.code, 0, `${version} QoS ${qos}: ${r.out}`);
      }
    }
    await until(async () => (await gw.readings()).filter((r) => r.deviceId === 'env-0001').length === want.length, 'six readings');
    assert.deepEqual((await gw.readings()).filter((r) => r.deviceId === 'env-0001').map((r) => r.value).sort((a, b) => a - b), want);
  });

  test('mosquitto_pub over TLS, verifying the certificate', async () => {
    const r = await run('mosquitto_pub', ['-h', 'localhost', '-p', String(gw.ports.tls), '--cafile', cafile, '-i', 'env-0002', '-u', 'env-0002', '-P', secrets['env-0002']!, '-q', '1', '-t', 'weir/env-0002/telemetry', '-m', JSON.stringify({ ts: T, temperature: 7.5 })]);
    assert.equal(r.code, 0, r.out);
    assert.ok((await gw.readings()).some((x) => x.deviceId === 'env-0002' && x.value === 7.5));
  });

  test('refusals: a wrong secret, MQTT 5', async () => {
    const bad = await run('mosquitto_pub', [...as('env-0001', 'not-the-secret'), '-q', '1', '-t', 'weir/env-0001/telemetry', '-m', '{}']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /bad user ?name or password|not authori[sz]ed/i);
    const v5 = await run('mosquitto_pub', [...as('env-0001'), '-V', 'mqttv5', '-q', '1', '-t', 'weir/env-0001/telemetry', '-m', '{}']);
    assert.notEqual(v5.code, 0);
    assert.match(v5.out, /unsupported protocol version/i);
  });

  test('mosquitto_sub receives commands at QoS 0, 1 and 2 on its own command topic', async () => {
    const granted = gw.broker.counters.subscriptionsGranted;
    const sub = spawn('mosquitto_sub', [...as('env-0003'), '-q', '2', '-C', '3', '-t', 'weir/env-0003/commands', '-F', '%q %p']);
    const lines: string[] = [];
    createInterface({ input: sub.stdout }).on('line', (l) => lines.push(l));
    const exited = new Promise<number | null>((resolve) => sub.on('exit', (c) => resolve(c)));
    await until(() => gw.broker.counters.subscriptionsGranted > granted, 'the subscription'); // mosquitto_sub's stdout is block-buffered

    for (const qos of [0, 1, 2] as const) await gw.broker.publishCommand('env-0003', `cmd-${qos}`, qos);
    assert.equal(await exited, 0, lines.join('\n'));
    assert.deepEqual(lines.filter((l) => /^\d cmd-/.test(l)).sort(), ['0 cmd-0', '1 cmd-1', '2 cmd-2']);
  });

  test("mosquitto_sub on another device's topic is refused", async () => {
    const r = await run('mosquitto_sub', [...as('env-0003'), '-q', '1', '-C', '1', '-W', '10', '-t', 'weir/env-0001/telemetry']);
    assert.match(r.out, /All subscription requests were denied/);
  });
});
