/**
 * A benchmark publisher (child process): mqtt.js 3.1.1 clients publishing
 * flat JSON readings for many devices, round robin, as fast as the broker
 * takes them or at a fixed rate. `ts` in each payload is the wall clock at
 * publish (the target measures latency from it). Prints `SENT <messages>`
 * every 500 ms; stops when stdin closes.
 *
 *   node --import tsx bench-publisher.ts --url mqtt://127.0.0.1:PORT [--devices 10000] [--first 0]
 *     [--connections 4] [--qos 0|1] [--rate MSG_PER_S (0 = as fast as possible)] [--metrics 3|1]
 *     [--window 1000 (QoS 1 messages in flight per connection)] [--prefix weir] [--client-prefix pub]
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    devices: { type: 'string', default: '10000' },
    first: { type: 'string', default: '0' },
    connections: { type: 'string', default: '4' },
    qos: { type: 'string', default: '0' },
    rate: { type: 'string', default: '0' },
    metrics: { type: 'string', default: '3' },
    window: { type: 'string', default: '1000' },
    prefix: { type: 'string', default: 'weir' },
    'client-prefix': { type: 'string', default: 'pub' },
  },
});
const devices = Number(values.devices);
const first = Number(values.first);
const qos = Number(values.qos) as 0 | 1;
const rate = Number(values.rate);
const threeMetrics = values.metrics !== '1';
const window = Number(values.window);
const topics = Array.from({ length: devices }, (_, i) => `${values.prefix}/env-${String(first + i).padStart(5, '0')}/telemetry`);

let sent = 0;
let acked = 0;
let stopping = false;
let seq = 0;

function payload(): string {
  const k = seq++;
  const t = 20 + (k % 97) / 10;
  return threeMetrics
    ? `{"ts":${Date.now()},"temperature":${t},"humidity":${40 + (k % 13)},"pressure":${101000 + (k % 500)}}`
    : `{"ts":${Date.now()},"temperature":${t}}`;
}

const clients: MqttClient[] = await Promise.all(Array.from({ length: Number(values.connections) }, (_, i) =>
  mqtt.connectAsync(values.url!, { clientId: `${values['client-prefix']}-${process.pid}-${i}`, protocolVersion: 4, clean: true, reconnectPeriod: 0, keepalive: 60, queueQoSZero: false })));

let next = 0;
/** Publishes one message on `c`; QoS 1 counts the PUBACK. */
function publishOne(c: MqttClient, state: { inflight: number; waiters: (() => void)[] }): void {
  const topic = topics[next++ % devices]!;
  sent++;
  if (qos === 0) {
    c.publish(topic, payload(), { qos: 0 });
    return;
  }
  state.inflight++;
  c.publish(topic, payload(), { qos: 1 }, () => {
    acked++;
    state.inflight--;
    if (state.inflight <= window / 2 && state.waiters.length > 0) state.waiters.splice(0).forEach((w) => w());
  });
}

async function pumpMax(c: MqttClient): Promise<void> {
  const state = { inflight: 0, waiters: [] as (() => void)[] };
  while (!stopping) {
    for (let i = 0; i < 64; i++) {
      if (qos === 1 && state.inflight >= window) break;
      publishOne(c, state);
    }
    if (qos === 1 && state.inflight >= window) await new Promise<void>((r) => state.waiters.push(r));
    else if ((c.stream as { writableNeedDrain?: boolean }).writableNeedDrain === true) await once(c.stream, 'drain');
    else await new Promise((r) => setImmediate(r));
  }
}

function pumpRate(): void {
  const states = clients.map(() => ({ inflight: 0, waiters: [] as (() => void)[] }));
  const t0 = performance.now();
  let done = 0;
  let rr = 0;
  const tick = setInterval(() => {
    if (stopping) return clearInterval(tick);
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; done < due; done++) {
      const i = rr++ % clients.length;
      if (qos === 1 && states[i]!.inflight >= window) continue; // behind: skip rather than queue without bound
      publishOne(clients[i]!, states[i]!);
    }
  }, 5);
}

const report = setInterval(() => process.stdout.write(`SENT ${sent} ${acked}\n`), 500);
process.stdin.resume();
process.stdin.on('end', () => {
  stopping = true;
  clearInterval(report);
  process.stdout.write(`SENT ${sent} ${acked}\n`);
  setTimeout(() => process.exit(0), 50);
});
for (const c of clients) c.on('error', (e) => process.stderr.write(`publisher: ${e.message}\n`));
if (rate > 0) pumpRate();
else for (const c of clients) void pumpMax(c);
