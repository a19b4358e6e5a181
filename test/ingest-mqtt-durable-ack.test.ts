/**
 * DESIGN invariant 1 on the embedded broker: a QoS 1/2 PUBLISH is acknowledged
 * (PUBACK / PUBREC) only once its reading — or its quarantine record — is
 * durable. Durability is held back with a gated store (appends wait at the
 * gate); a PINGREQ sent after the PUBLISH is the causal marker that the
 * broker has handled later packets while the ack is still withheld.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { PINGREQ, RawClient, connectPacket, publishPacket, pubrelPacket } from './support/raw-mqtt.ts';
import { startTestGateway, until, type TestGateway } from './support/mqtt-ingest-harness.ts';

const GOOD = JSON.stringify({ ts: 1_767_225_600_000, temperature: 21.5 });
const TOPIC = 'weir/env-0001/telemetry';
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function gateway(o: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  const gw = await startTestGateway(o);
  closers.push(() => gw.close());
  return gw;
}

async function client(gw: TestGateway, clean = true): Promise<RawClient> {
  const c = await RawClient.open(gw.ports.tcp!);
  closers.push(() => c.end());
  c.send(connectPacket({ clientId: 'env-0001', clean }));
  await c.until((r) => r.length >= 1, 'CONNACK');
  assert.deepEqual(c.types(), ['connack']);
  return c;
}

const msgId = (body: Buffer): number => body.readUInt16BE(0);

describe('ack only after durable', () => {
  for (const qos of [1, 2] as const) {
    const ack = qos === 1 ? 'puback' : 'pubrec';
    test(`QoS ${qos}: no ${ack.toUpperCase()} while the log append is held; sent once it commits`, async () => {
      const gw = await gateway();
      const c = await client(gw);
      gw.gate.close();
      c.send(publishPacket({ topic: TOPIC, payload: GOOD, qos, id: 42 }), PINGREQ);
      await c.until((r) => r.some((p) => p.type === 'pingresp'), 'PINGRESP');
      await until(() => gw.gate.held >= 1, 'the reading to reach the store');
      assert.deepEqual(c.types(), ['connack', 'pingresp'], `no ${ack} while not durable`);
      assert.equal((await gw.readings()).length, 0);
      assert.equal(gw.broker.metrics().flow.acksPending, 1);

      gw.gate.release();
      await c.until((r) => r.some((p) => p.type === ack), ack);
      assert.deepEqual(c.types(), ['connack', 'pingresp', ack]);
      assert.equal(msgId(c.received[2]!.body), 42);
      assert.deepEqual((await gw.readings()).map((r) => [r.deviceId, r.metric, r.value]), [['env-0001', 'temperature', 21.5]]);
      if (qos === 2) {
        c.send(pubrelPacket(42));
        await c.until((r) => r.some((p) => p.type === 'pubcomp'), 'PUBCOMP');
      }
      assert.equal(gw.broker.metrics().flow.acksSent, 1);
    });
  }

  test('a bad payload is acknowledged only once its quarantine record is durable', async () => {
    const gw = await gateway({ gateQuarantine: true });
    const c = await client(gw);
    gw.gate.close();
    c.send(publishPacket({ topic: TOPIC, payload: '{"ts": 1, "temperature": ', qos: 1, id: 7 }), PINGREQ);
    await c.until((r) => r.some((p) => p.type === 'pingresp'), 'PINGRESP');
    await until(() => gw.gate.held >= 1, 'the quarantine write to reach the store');
    assert.deepEqual(c.types(), ['connack', 'pingresp']);
    assert.equal((await gw.quarantined()).length, 0);
    gw.gate.release();
    await c.until((r) => r.some((p) => p.type === 'puback'), 'PUBACK');
    const q = await gw.quarantined();
    assert.deepEqual(q.map((r) => [r.reasonCode, r.topicOrUri, Buffer.from(r.raw).toString()]), [['E_DECODE_JSON', TOPIC, '{"ts": 1, "temperature": ']]);
  });

  test('acks go out in arrival order even when a later frame is durable first', async () => {
    const gw = await gateway(); // quarantine not gated: the bad frame (2nd) is durable before the good one (1st)
    const c = await client(gw);
    gw.gate.close();
    c.send(publishPacket({ topic: TOPIC, payload: GOOD, qos: 1, id: 1 }), publishPacket({ topic: TOPIC, payload: 'nope', qos: 1, id: 2 }), PINGREQ);
    await until(async () => (await gw.quarantined()).length === 1, 'the bad frame in quarantine');
    await c.until((r) => r.some((p) => p.type === 'pingresp'), 'PINGRESP');
    assert.deepEqual(c.types(), ['connack', 'pingresp'], 'the PUBACK of frame 2 waits for frame 1 [MQTT-4.6.0-2]');
    gw.gate.release();
    await c.until((r) => r.filter((p) => p.type === 'puback').length === 2, 'two PUBACKs');
    assert.deepEqual(c.received.filter((p) => p.type === 'puback').map((p) => msgId(p.body)), [1, 2]);
  });

  test('when the reading cannot be made durable there is no ack: the connection is closed', async () => {
    const gw = await gateway();
    const c = await client(gw);
    gw.gate.failWith = Object.assign(new Error('database or disk is full'), { code: 'E_DISK_FULL' });
    c.send(publishPacket({ topic: TOPIC, payload: GOOD, qos: 1, id: 9 }));
    await c.closedByPeer();
    assert.deepEqual(c.types(), ['connack']);
    assert.equal((await gw.readings()).length, 0);
    assert.equal(gw.broker.metrics().flow.acksRefused, 1);
    gw.gate.failWith = null;
    // The device reconnects and resends (at-least-once): now it is durable and acknowledged.
    const again = await client(gw);
    again.send(publishPacket({ topic: TOPIC, payload: GOOD, qos: 1, id: 9, dup: true }));
    await again.until((r) => r.some((p) => p.type === 'puback'), 'PUBACK');
    assert.equal((await gw.readings()).length, 1);
  });

  test('a frame of several readings that cannot be made durable: no ack, and the gateway stays up', async () => {
    const gw = await gateway();
    const c = await client(gw);
    gw.gate.failWith = Object.assign(new Error('database or disk is full'), { code: 'E_DISK_FULL' });
    c.send(publishPacket({ topic: TOPIC, payload: JSON.stringify({ ts: 1_767_225_600_000, temperature: 21.5, humidity: 40, pressure: 101000 }), qos: 1, id: 3 }));
    await c.closedByPeer();
    assert.deepEqual(c.types(), ['connack']);
    assert.equal(gw.broker.metrics().flow.failed, 1);
    gw.gate.failWith = null;
    await new Promise((r) => setImmediate(r)); // an unhandled rejection would end the process here
    const again = await client(gw);
    again.send(publishPacket({ topic: TOPIC, payload: GOOD, qos: 1, id: 4 }));
    await again.until((r) => r.some((p) => p.type === 'puback'), 'PUBACK');
  });

  test('a QoS 2 retransmission of a message already durable is acknowledged without ingesting it twice', async () => {
    const gw = await gateway();
    const c = await client(gw, false);
    c.send(publishPacket({ topic: TOPIC, payload: GOOD, qos: 2, id: 5 }));
    await c.until((r) => r.some((p) => p.type === 'pubrec'), 'PUBREC');
    c.send(publishPacket({ topic: TOPIC, payload: GOOD, qos: 2, id: 5, dup: true }));
    await c.until((r) => r.filter((p) => p.type === 'pubrec').length === 2, 'second PUBREC');
    c.send(pubrelPacket(5));
    await c.until((r) => r.some((p) => p.type === 'pubcomp'), 'PUBCOMP');
    assert.equal((await gw.readings()).length, 1);
    assert.equal(gw.broker.metrics().broker.qos2Duplicates, 1);
  });

  test('mqtt.js sees the same: its publish completes only after the commit, while a later SUBSCRIBE is answered', async () => {
    const gw = await gateway();
    const m = await mqtt.connectAsync(gw.url, { clientId: 'env-0001', reconnectPeriod: 0 });
    closers.push(() => m.endAsync().then(() => undefined));
    gw.gate.close();
    let acked = false;
    const published = m.publishAsync(TOPIC, GOOD, { qos: 1 }).then(() => (acked = true));
    const granted = await m.subscribeAsync('weir/env-0001/commands', { qos: 1 });
    await until(() => gw.gate.held >= 1, 'the reading to reach the store');
    assert.deepEqual(granted.map((g) => g.qos), [1]);
    assert.equal(acked, false);
    gw.gate.release();
    await published;
    assert.equal((await gw.readings()).length, 1);
  });
});
