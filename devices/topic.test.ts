import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTopicTemplate, matchTopic, renderTopic, topicFilter } from './topic.ts';

test('render, filter and match are inverse', () => {
  const t = 'weir/{deviceId}/telemetry';
  assert.equal(renderTopic(t, 'env-0001'), 'weir/env-0001/telemetry');
  assert.equal(topicFilter(t), 'weir/+/telemetry');
  assert.equal(matchTopic(t, 'weir/env-0001/telemetry'), 'env-0001');
});

test('non-matching topics give null', () => {
  const t = 'weir/{deviceId}/telemetry';
  for (const topic of ['weir/env-0001/other', 'weir//telemetry', 'weir/a/b/telemetry', 'x/env-0001/telemetry', 'weir/env-0001']) {
    assert.equal(matchTopic(t, topic), null, topic);
  }
});

test('template problems are named', () => {
  const cases: [string, string | null][] = [
    ['weir/{deviceId}/telemetry', null],
    ['{deviceId}', null],
    ['weir/#', 'must not contain MQTT wildcards (+, #)'],
    ['weir/x', 'must contain {deviceId} exactly once'],
    ['weir/{deviceId}/{deviceId}', 'must contain {deviceId} exactly once'],
    ['weir/d{deviceId}', '{deviceId} must fill a whole topic level'],
    ['weir/{deviceId}/{site}', 'only {deviceId} may appear in braces'],
  ];
  for (const [template, want] of cases) assert.equal(checkTopicTemplate(template), want, template);
});
