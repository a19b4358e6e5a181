/**
 * What a device may do with topics on the embedded broker.
 *
 * Publish: anything, but what it publishes is judged by the Ingestor — a
 * frame under another device's topic is quarantined as E_TOPIC_DENIED, a
 * topic no profile knows as E_UNKNOWN_DEVICE — except two kinds of topic it
 * must never reach the broker's routing with, which close the connection
 * (after the frame is quarantined): `$`-topics, reserved for the broker
 * ([MQTT-4.7.2-1]; aedes routes `$SYS/+/new/clients` internally), and the
 * command topics (devices would otherwise command each other).
 *
 * Subscribe: only to its own command topic (`weir/{deviceId}/commands` by
 * default) or below it. Every other filter is refused with SUBACK 0x80
 * ([MQTT-3.9.3], return code 128). Telemetry is therefore never forwarded to
 * any client: no one can subscribe to it.
 */
import { checkTopicTemplate, matchTopic, renderTopic } from '../../../devices/index.ts';
import { MqttIngestError } from './mqtt-errors.ts';

export const DEFAULT_COMMAND_TOPIC = 'weir/{deviceId}/commands';

export type PublishVerdict = 'ingest' | 'reserved' | 'command-topic';

export class TopicAcl {
  private readonly levels: number;
  private readonly fixed: readonly (string | null)[];

  constructor(readonly commandTemplate: string = DEFAULT_COMMAND_TOPIC) {
    const why = checkTopicTemplate(commandTemplate);
    if (why !== null) throw new MqttIngestError('E_MQTT_CONFIG', `commandTopic ${commandTemplate}: ${why}`);
    const parts = commandTemplate.split('/');
    this.levels = parts.length;
    this.fixed = parts.map((l) => (l === '{deviceId}' ? null : l));
  }

  /** The command topic of a device. */
  commandTopic(deviceId: string): string {
    return renderTopic(this.commandTemplate, deviceId);
  }

  /** The device whose command topic (or subtree) `topic` is in, or null. */
  commandDevice(topic: string): string | null {
    const parts = topic.split('/');
    if (parts.length < this.levels) return null;
    return matchTopic(this.commandTemplate, parts.slice(0, this.levels).join('/'));
  }

  /** Runs for every PUBLISH: walks the topic in place, no allocation. */
  publish(topic: string): PublishVerdict {
    if (topic.charCodeAt(0) === 36) return 'reserved'; // '$'
    let start = 0;
    for (let i = 0; i < this.levels; i++) {
      if (start > topic.length) return 'ingest';
      let end = topic.indexOf('/', start);
      if (end < 0) end = topic.length;
      const want = this.fixed[i];
      if (want === null) {
        if (end === start) return 'ingest'; // an empty device id level
      } else if (end - start !== want.length || !topic.startsWith(want, start)) {
        return 'ingest';
      }
      start = end + 1;
    }
    return 'command-topic';
  }

  /**
   * May `deviceId` subscribe to `filter`? A filter rooted at the device's own
   * command topic can only match topics below it, wildcards or not. With no
   * authenticated device (anonymous mode) any device's command topic is allowed.
   */
  subscribe(deviceId: string | null, filter: string): boolean {
    const parts = filter.split('/');
    if (parts.length < this.levels) return false;
    const root = parts.slice(0, this.levels);
    if (root.some((l) => l === '+' || l === '#')) return false;
    const owner = matchTopic(this.commandTemplate, root.join('/'));
    return owner !== null && (deviceId === null || owner === deviceId);
  }
}
