/**
 * Writes edge-runtime/samples/readings.ndjson: a small, deterministic recording
 * of three environment sensors (temperature, humidity) over 20 minutes, with a
 * little network reordering, one device that drops out and later replays its
 * buffer (late data), one spike, and a processing-time tick every 10 s.
 * Run: npx tsx scripts/make-sample.ts
 */
import { writeFileSync } from 'node:fs';

let s = 0x9e3779b9;
function rnd(): number {
  // mulberry32: small, seeded, good enough for sample data.
  s = (s + 0x6d2b79f5) | 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const devices = ['env-01', 'env-02', 'env-03'];
const lines: { arrival: number; text: string }[] = [];
const buffered: { arrival: number; text: string }[] = [];
for (let step = 0; step < 240; step++) {
  const ts = T0 + step * 5000;
  for (const [di, d] of devices.entries()) {
    let temp = 20 + di + 1.5 * Math.sin(step / 40) + (rnd() - 0.5) * 0.4;
    if (d === 'env-02' && step === 150) temp += 9; // a spike
    const hum = 45 - 2 * di + 3 * Math.cos(step / 55) + (rnd() - 0.5);
    let arrival = ts + 20 + Math.floor(rnd() * 200) + (rnd() < 0.05 ? 3000 : 0); // some arrive 3 s late
    const offline = d === 'env-03' && step >= 100 && step < 130; // 2.5 min outage, replayed after
    if (offline) arrival = T0 + 130 * 5000 + 500 + (step - 100) * 10;
    for (const [metric, value] of [['temperature', temp], ['humidity', hum]] as const) {
      const text = JSON.stringify({ deviceId: d, metric, value: Math.round(value * 100) / 100, ts, arrival });
      (offline ? buffered : lines).push({ arrival, text });
    }
  }
  if (step % 2 === 1) lines.push({ arrival: ts + 5000, text: JSON.stringify({ tick: ts + 5000 }) });
}
const all = [...lines, ...buffered].sort((a, b) => a.arrival - b.arrival);
const out = all.map((l) => l.text);
out.splice(400, 0, '{"deviceId":"env-01","metric":"temperature","value":"hot","ts":1767254400000}');
out.splice(800, 0, '{"deviceId":"env-02","metric":"humidity",');
writeFileSync('edge-runtime/samples/readings.ndjson', out.join('\n') + '\n');
console.log(`wrote ${out.length} lines`);
