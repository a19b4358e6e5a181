/**
 * MQTT topic templates such as `weir/{deviceId}/telemetry`: render one for a
 * device, match a received topic back to a device id, and derive the
 * subscription filter (`weir/+/telemetry`).
 */

const PLACEHOLDER = '{deviceId}';

/** Returns why a template is unusable, or null if it is fine. */
export function checkTopicTemplate(template: string): string | null {
  // [MQTT-4.7.1-1] wildcards are only for filters, never in a topic name.
  if (template.includes('+') || template.includes('#')) return 'must not contain MQTT wildcards (+, #)';
  if (template.includes('\u0000')) return 'must not contain NUL'; // [MQTT-4.7.3-2]
  const levels = template.split('/');
  const holders = levels.filter((l) => l.includes(PLACEHOLDER));
  if (holders.length !== 1) return `must contain ${PLACEHOLDER} exactly once`;
  if (holders[0] !== PLACEHOLDER) return `${PLACEHOLDER} must fill a whole topic level`;
  if (/[{}]/.test(levels.filter((l) => l !== PLACEHOLDER).join('/'))) return `only ${PLACEHOLDER} may appear in braces`;
  return null;
}

/** The topic a device publishes to. */
export function renderTopic(template: string, deviceId: string): string {
  return template.replace(PLACEHOLDER, deviceId);
}

/** The subscription filter covering every device of a template, e.g. `weir/+/telemetry`. */
export function topicFilter(template: string): string {
  return template.replace(PLACEHOLDER, '+');
}

/**
 * A template whose {deviceId} fills exactly one whole level, as the text before and after that
 * level: then a topic matches when it has both around a non-empty id without '/' (the same levels).
 * Per template, once: matching runs for every frame and must not split strings (the GC cost).
 */
interface CompiledTemplate {
  readonly prefix: string;
  readonly suffix: string;
}

const compiled = new Map<string, CompiledTemplate | null>();

function compile(template: string): CompiledTemplate | null {
  const at = template.indexOf(PLACEHOLDER);
  const end = at + PLACEHOLDER.length;
  if (at < 0 || template.indexOf(PLACEHOLDER, end) >= 0) return null;
  if ((at > 0 && template[at - 1] !== '/') || (end < template.length && template[end] !== '/')) return null;
  return { prefix: template.slice(0, at), suffix: template.slice(end) };
}

/** The device id in `topic` if it matches `template`, else null. */
export function matchTopic(template: string, topic: string): string | null {
  let c = compiled.get(template);
  if (c === undefined) {
    c = compile(template);
    // Templates come from device profiles (a handful); a caller passing arbitrary ones must not grow this without bound.
    if (compiled.size < 1024) compiled.set(template, c);
  }
  if (c !== null) {
    const { prefix, suffix } = c;
    const idEnd = topic.length - suffix.length;
    if (idEnd <= prefix.length || !topic.startsWith(prefix) || !topic.endsWith(suffix)) return null;
    const slash = topic.indexOf('/', prefix.length);
    return slash >= 0 && slash < idEnd ? null : topic.slice(prefix.length, idEnd);
  }
  return matchLevels(template, topic);
}

/** Level by level: templates without exactly one whole-level {deviceId} (the last such level names the device). */
function matchLevels(template: string, topic: string): string | null {
  const t = template.split('/');
  const got = topic.split('/');
  if (t.length !== got.length) return null;
  let id: string | null = null;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === PLACEHOLDER) {
      if (got[i] === '') return null;
      id = got[i];
    } else if (t[i] !== got[i]) {
      return null;
    }
  }
  return id;
}
