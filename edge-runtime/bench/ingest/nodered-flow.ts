/**
 * The Node-RED side of `npm run bench:peer-nodered`: a flow doing the work
 * weir's benchmark pipeline does — mqtt in → json → a function node keeping
 * a per-device 10 s tumbling mean (by the payload's event time) → mqtt out
 * for each closed window — plus a second output that publishes how many
 * messages the function node has processed, twice a second, so the bench can
 * count what Node-RED actually got through. And its settings file: no
 * editor, no HTTP nodes, in-memory context, logs at info (the bench waits for
 * "Started flows" and the broker connection).
 */

/** Runs inside Node-RED's function node (plain JavaScript, `msg`, `context`, `Date` are Node-RED's). */
export const FUNCTION_NODE_CODE = `
let st = context.get('s');
if (!st) { st = { win: new Map(), count: 0, last: Date.now() }; context.set('s', st); }
st.count++;
const dev = msg.topic.split('/')[1];
const w = Math.floor(msg.payload.ts / 10000);
let e = st.win.get(dev);
let out = null;
if (e && e.w !== w) {
  out = { topic: 'nr-out/' + dev, payload: JSON.stringify({ device: dev, windowStart: e.w * 10000, mean: e.sum / e.n, count: e.n }) };
  e = undefined;
}
if (!e) { e = { w: w, sum: 0, n: 0 }; st.win.set(dev, e); }
e.sum += msg.payload.temperature;
e.n++;
let stats = null;
const now = Date.now();
if (now - st.last >= 500) { st.last = now; stats = { topic: 'nr-bench/stats', payload: String(st.count) }; }
return [out, stats];
`;

export function noderedFlow(brokerPort: number, topic: string): unknown[] {
  return [
    { id: 'tab1', type: 'tab', label: 'weir peer bench' },
    {
      id: 'broker1', type: 'mqtt-broker', name: 'bench broker', broker: '127.0.0.1', port: String(brokerPort), clientid: 'nodered-bench',
      autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true,
    },
    { id: 'in1', type: 'mqtt in', z: 'tab1', name: 'readings', topic, qos: '0', datatype: 'utf8', broker: 'broker1', nl: false, rap: false, inputs: 0, wires: [['json1']] },
    { id: 'json1', type: 'json', z: 'tab1', name: '', property: 'payload', action: 'obj', pretty: false, wires: [['fn1']] },
    { id: 'fn1', type: 'function', z: 'tab1', name: '10 s mean per device', func: FUNCTION_NODE_CODE, outputs: 2, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['out1'], ['out2']] },
    { id: 'out1', type: 'mqtt out', z: 'tab1', name: 'means', topic: '', qos: '0', retain: 'false', broker: 'broker1', wires: [] },
    { id: 'out2', type: 'mqtt out', z: 'tab1', name: 'stats', topic: '', qos: '0', retain: 'false', broker: 'broker1', wires: [] },
  ];
}

export function noderedSettings(userDir: string, flowFile: string, port: number): string {
  return `module.exports = ${JSON.stringify({
    uiPort: port,
    uiHost: '127.0.0.1',
    userDir,
    flowFile,
    httpAdminRoot: false,
    httpNodeRoot: false,
    credentialSecret: false,
    contextStorage: { default: { module: 'memory' } },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  }, null, 2)};\n`;
}
