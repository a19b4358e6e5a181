/**
 * Child process for the backpressure test: one MQTT connection that writes
 * PUBLISH packets as fast as the socket takes them (raw bytes, pre-built, so
 * this process is far faster than any gateway pipeline). Ignores what the
 * broker sends back after the CONNACK (PUBACKs). Prints `DONE <n>` once every packet was handed
 * to the kernel, then waits to be killed (closing would race the broker's
 * reading of what is still in flight).
 *
 *   node --import tsx mqtt-flood-publisher.ts PORT COUNT PAYLOAD_BYTES QOS
 */
import { connect } from 'node:net';
import { once } from 'node:events';
import { connectPacket, publishPacket } from './raw-mqtt.ts';

const [port, count, size, qos] = process.argv.slice(2).map(Number);
const sock = connect(port!, '127.0.0.1');
await once(sock, 'connect');
sock.on('error', (e) => {
  process.stderr.write(`flood publisher: ${e.message}\n`);
  process.exit(1);
});
sock.write(connectPacket({ clientId: 'flood-1' }));
await once(sock, 'data'); // CONNACK: aedes queues at most 42 packets that arrive before it
sock.on('data', () => {});
const T = 1_767_225_600_000;
const BATCH = 64;
let sent = 0;
while (sent < count!) {
  const parts: Buffer[] = [];
  for (let i = 0; i < BATCH && sent < count!; i++, sent++) {
    const head = `{"ts":${T + sent},"temperature":${(sent % 500) / 10}}`;
    parts.push(publishPacket({ topic: `weir/env-${String(sent % 1000).padStart(4, '0')}/telemetry`, payload: head.padEnd(size!, ' '), qos: qos as 0 | 1, id: 1 + (sent % 65000) }));
  }
  if (!sock.write(Buffer.concat(parts))) await once(sock, 'drain');
}
process.stdout.write(`DONE ${sent}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
