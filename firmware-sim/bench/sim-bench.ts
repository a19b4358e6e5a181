/**
 * `npm run bench:sim`: sustained readings/s that one simulator process
 * delivers to a local broker with 10,000 devices, as a separate subscriber
 * receives and decodes them.
 *
 * Three processes: a broker (aedes in a child process, or Mosquitto, on
 * 127.0.0.1 and a free port), the simulator (the `weir-sim` CLI, live mode,
 * time-scaled so it offers more than the pipeline can carry: the figure is
 * the sustained ceiling, with back-pressure, not an offered rate), and this
 * process as the subscriber. Final stdout line: `BENCH {json}`.
 *
 *   node --import tsx firmware-sim/bench/sim-bench.ts [--devices 10000] [--seconds 10]
 *     [--warmup 5] [--time-scale 40] [--connections 16|per-device] [--broker aedes|mosquitto] [--qos 0|1]
 *
 * The simulator multiplexes its devices over 16 MQTT connections by default:
 * with one connection per device (real firmware's shape, `--connections
 * per-device`) every message is its own socket write on both ends, which
 * measured about 4× the CPU per reading in the simulator and the broker and
 * does not reach the 50,000 readings/s goal on two shared cores.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { BUILTIN_PROFILES, DecodeError, decodeFrame, matchMqttTopic, topicFilter } from '../../devices/index.ts';
import type { DeviceProfile } from '../../devices/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    'time-scale': { type: 'string', default: '40' },
    // 16 shared connections: one connection per device costs ~4× the CPU per reading (see README).
    connections: { type: 'string', default: '16' },
    broker: { type: 'string', default: 'aedes' },
    qos: { type: 'string', default: '0' },
  },
});
const devices = Number(values.devices);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const timeScale = Number(values['time-scale']);

/** The fleet: every MQTT payload kind (flat JSON, SenML JSON, SenML CBOR), 70/20/10. */
const mix: [DeviceProfile, number][] = [
  [BUILTIN_PROFILES.find((p) => p.name === 'env-sensor') as DeviceProfile, Math.round(devices * 0.7)],
  [BUILTIN_PROFILES.find((p) => p.name === 'air-quality') as DeviceProfile, Math.round(devices * 0.2)],
];
mix.push([BUILTIN_PROFILES.find((p) => p.name === 'vibration') as DeviceProfile, devices - mix[0][1] - mix[1][1]]);
const offered = mix.reduce((s, [p, n]) => s + (n * Object.keys(p.metrics).length * 1000 * timeScale) / p.samplingIntervalMs, 0);

const children: ChildProcess[] = [];
function stopChildren(): void {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGTERM');
}
process.on('exit', stopChildren);

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function startBroker(): Promise<{ url: string; pid: number; cleanup: () => void }> {
  if (values.broker === 'mosquitto') {
    const dir = mkdtempSync(join(tmpdir(), 'weir-bench-'));
    const port = await freeTcpPort();
    writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n`);
    const child = spawn('mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
    children.push(child);
    const url = `mqtt://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        const probe = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 500 });
        await probe.endAsync();
        break;
      } catch (e) {
        if (i > 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { url, pid: child.pid ?? 0, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'aedes-broker.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const m = /^PORT (\d+)$/.exec(line);
    if (m !== null) return { url: `mqtt://127.0.0.1:${m[1]}`, pid: child.pid ?? 0, cleanup: () => {} };
  }
  throw new Error('broker exited before listening');
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere. */
function cpuSec(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

function rssMB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Math.round(Number(m[1]) / 1024);
  } catch {
    return null;
  }
}

const broker = await startBroker();
const profiles = mix.map(([p]) => p);
const sub = await mqtt.connectAsync(broker.url, { clientId: 'weir-bench-subscriber', reconnectPeriod: 0 });
await sub.subscribeAsync(profiles.map((p) => topicFilter((p.transport as { topic: string }).topic)), { qos: 0 });
let messages = 0;
let readings = 0;
let decodeErrors = 0;
sub.on('message', (topic, payload) => {
  messages++;
  const m = matchMqttTopic(profiles, topic);
  if (m === null) return;
  try {
    readings += decodeFrame(m.profile, payload, { deviceId: m.deviceId, arrivalTime: 0 }).length;
  } catch (e) {
    if (e instanceof DecodeError) decodeErrors++;
    else throw e;
  }
});

const simArgs = [
  '--import', 'tsx', join(here, '..', 'cli.ts'),
  '--devices', mix.map(([p, n]) => `${p.name}=${n}`).join(','),
  '--broker', broker.url,
  '--qos', String(values.qos),
  '--connections', String(values.connections),
  '--time-scale', String(timeScale),
  '--seed', '1',
];
const t0 = performance.now();
const sim = spawn(process.execPath, simArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
children.push(sim);
let lastStatus = '';
let summary: Record<string, unknown> | null = null;
let firstSent = -1;
createInterface({ input: sim.stderr as NodeJS.ReadableStream }).on('line', (line) => {
  if (line.startsWith('sim ')) {
    lastStatus = line;
    if (firstSent < 0 && / sent=[1-9]/.test(line)) firstSent = performance.now();
  } else if (line.startsWith('summary ')) {
    summary = JSON.parse(line.slice('summary '.length)) as Record<string, unknown>;
  } else if (line.trim() !== '') {
    process.stderr.write(`[sim] ${line}\n`);
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
while (firstSent < 0) {
  if (sim.exitCode !== null) throw new Error(`simulator exited (${sim.exitCode})`);
  if (performance.now() - t0 > 120_000) throw new Error('simulator did not start sending within 120 s');
  await sleep(100);
}
const connectSec = (firstSent - t0) / 1000;
process.stderr.write(`bench: sending after ${connectSec.toFixed(1)} s; warming up ${warmup} s\n`);
await sleep(warmup * 1000);
const m0 = messages;
const r0 = readings;
const w0 = performance.now();
const cpu0 = { sim: cpuSec(sim.pid ?? 0), broker: cpuSec(broker.pid), subscriber: process.cpuUsage() };
let simRss: number | null = null;
let brokerRss: number | null = null;
for (let i = 0; i < seconds; i++) {
  await sleep(1000);
  simRss = Math.max(simRss ?? 0, rssMB(sim.pid ?? 0) ?? 0);
  brokerRss = Math.max(brokerRss ?? 0, rssMB(broker.pid) ?? 0);
}
const elapsed = (performance.now() - w0) / 1000;
const got = { messages: messages - m0, readings: readings - r0 };
const share = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : Math.round(((b - a) / elapsed) * 100));
const sub1 = process.cpuUsage(cpu0.subscriber);
const cpuPercent = {
  sim: share(cpu0.sim, cpuSec(sim.pid ?? 0)),
  broker: share(cpu0.broker, cpuSec(broker.pid)),
  subscriber: Math.round(((sub1.user + sub1.system) / 1e6 / elapsed) * 100),
};
// CPU cost per reading does not depend on how busy the rest of the machine is, unlike readings/s.
const perReading = (pct: number | null): number | null => (pct === null ? null : Number(((pct / 100) * elapsed * 1e6 / Math.max(1, got.readings)).toFixed(1)));
const cpuMicrosPerReading = {
  sim: perReading(cpuPercent.sim),
  broker: perReading(cpuPercent.broker),
  subscriber: perReading(cpuPercent.subscriber),
};
const lag = /lag=(\d+)ms/.exec(lastStatus);
// Broker first: aedes (1.2) can overflow its stack when 10,000 clients close at the same moment.
await sub.endAsync();
const brokerChild = children[0];
brokerChild.kill('SIGTERM');
await once(brokerChild, 'exit');
sim.kill('SIGTERM');
await once(sim, 'exit');
broker.cleanup();

const result = {
  readingsPerSec: Math.round(got.readings / elapsed),
  devices,
  messagesPerSec: Math.round(got.messages / elapsed),
  readingsPerMessage: Number((got.readings / Math.max(1, got.messages)).toFixed(2)),
  offeredReadingsPerSec: Math.round(offered),
  qos: Number(values.qos),
  connections: values.connections,
  broker: values.broker,
  windowSec: Number(elapsed.toFixed(1)),
  connectSec: Number(connectSec.toFixed(1)),
  simLagMsAtEnd: lag === null ? null : Number(lag[1]),
  decodeErrors,
  cpuPercent,
  cpuMicrosPerReading,
  simRssMB: simRss,
  brokerRssMB: brokerRss,
  simSummary: summary === null ? null : { messagesSent: (summary as Record<string, unknown>).messagesSent, connects: (summary as Record<string, unknown>).connects },
};
process.stdout.write(`BENCH ${JSON.stringify(result)}\n`);
