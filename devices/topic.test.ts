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

test('matching agrees with level-by-level matching, for every kind of template and topic', () => {
  const byLevels = (template: string, topic: string): string | null => {
    const t = template.split('/');
    const got = topic.split('/');
    if (t.length !== got.length) return null;
    let id: string | null = null;
    for (let i = 0; i < t.length; i++) {
      if (t[i] === '{deviceId}') {
        if (got[i] === '') return null;
        id = got[i]!;
      } else if (t[i] !== got[i]) return null;
    }
    return id;
  };
  const templates = ['weir/{deviceId}/telemetry', '{deviceId}', '{deviceId}/t', 'a/{deviceId}', 'a/{deviceId}/{deviceId}', 'a/x{deviceId}', 'a/b', 'a//{deviceId}'];
  const topics = ['weir/env-1/telemetry', 'weir//telemetry', 'weir/a/b/telemetry', 'weir/telemetry', 'env-1', '', '/', 'env-1/t', '/t', 'a/b', 'a/', 'a/b/c',
    'a/xb', 'a/x{deviceId}', 'a//b', 'a//', 'weir/env-1/telemetry/', 'weir/env-1/telemetryx', 'xweir/env-1/telemetry'];
  for (const template of templates) {
    for (const topic of topics) assert.equal(matchTopic(template, topic), byLevels(template, topic), `${template} ~ ${topic}`);
  }
});
