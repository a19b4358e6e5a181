import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TopicAcl, type PublishVerdict } from './topic-acl.ts';
import { MqttIngestError } from './mqtt-errors.ts';

describe('TopicAcl', () => {
  const acl = new TopicAcl();

  const publishes: [string, PublishVerdict][] = [
    ['weir/env-0001/telemetry', 'ingest'],
    ['weir/env-0002/telemetry', 'ingest'], // another device's topic: the Ingestor quarantines it (E_TOPIC_DENIED)
    ['anything/else', 'ingest'], // no profile: the Ingestor quarantines it (E_UNKNOWN_DEVICE)
    ['$SYS/broker/new/clients', 'reserved'],
    ['$share/x', 'reserved'],
    ['weir/env-0001/commands', 'command-topic'],
    ['weir/env-0002/commands/reboot', 'command-topic'],
    ['weir//commands', 'ingest'],
    ['weir/env-0001/commandsX', 'ingest'],
    ['weir/env-0001', 'ingest'],
    ['weir/env-0001/', 'ingest'],
    ['weirX/env-0001/commands', 'ingest'],
    ['', 'ingest'],
  ];
  for (const [topic, want] of publishes) {
    test(`publish ${JSON.stringify(topic)} → ${want}`, () => {
      assert.equal(acl.publish(topic), want);
      if (want !== 'reserved') assert.equal(acl.commandDevice(topic) !== null, want === 'command-topic', 'the fast path agrees with commandDevice');
    });
  }

  const subscriptions: [string | null, string, boolean][] = [
    ['env-0001', 'weir/env-0001/commands', true],
    ['env-0001', 'weir/env-0001/commands/#', true],
    ['env-0001', 'weir/env-0001/commands/+/x', true],
    ['env-0001', 'weir/env-0002/commands', false],
    ['env-0001', 'weir/+/commands', false],
    ['env-0001', 'weir/#', false],
    ['env-0001', '#', false],
    ['env-0001', 'weir/env-0001/telemetry', false],
    ['env-0001', 'weir/env-0001', false],
    [null, 'weir/env-0002/commands', true],
    [null, 'weir/+/commands', false],
    [null, 'weir/env-0002/telemetry', false],
  ];
  for (const [device, filter, ok] of subscriptions) {
    test(`${device ?? 'anonymous'} subscribes ${filter} → ${ok ? 'granted' : 'refused'}`, () => assert.equal(acl.subscribe(device, filter), ok));
  }

  test('a custom command template', () => {
    const a = new TopicAcl('site/{deviceId}/cmd');
    assert.equal(a.commandTopic('x-1'), 'site/x-1/cmd');
    assert.equal(a.commandDevice('site/x-1/cmd/a/b'), 'x-1');
    assert.equal(a.commandDevice('site/x-1'), null);
  });

  test('a template with wildcards is refused', () => {
    assert.throws(() => new TopicAcl('weir/+/{deviceId}'), (e: unknown) => e instanceof MqttIngestError && e.code === 'E_MQTT_CONFIG');
  });
});
