/**
 * Record mode's transport: instead of sending, it writes each reading the
 * gateway would receive as one line of weir's replay input format:
 *   {"deviceId":"env-0001","metric":"temperature","value":21.37,"ts":1767225600000,"arrival":1767225600004}
 * `ts` is the timestamp the device reports (its own, skewed clock; the
 * arrival time for profiles whose event time is the arrival), `arrival` when
 * the gateway would receive it (later for buffered replays). Malformed
 * messages carry no readable reading and are not written (they are counted).
 * Labels go to a second file in the same format as the issue asks:
 *   {"deviceId":"env-0001","metric":"temperature","start":…,"end":…,"kind":"spike"}
 */
import type { EngineHooks, FleetTransport, OutMessage } from '../core/fleet-engine.ts';
import type { Label, SimDevice } from '../core/sim-device.ts';
import type { LineSink } from './ndjson-file.ts';

export function readingLine(deviceId: string, metric: string, value: number, ts: number, arrival: number): string {
  return `{"deviceId":${JSON.stringify(deviceId)},"metric":${JSON.stringify(metric)},"value":${JSON.stringify(value)},"ts":${ts},"arrival":${arrival}}`;
}

export function labelLine(l: Label): string {
  return JSON.stringify({ deviceId: l.deviceId, metric: l.metric, start: l.start, end: l.end, kind: l.kind });
}

export class RecordTransport implements FleetTransport, EngineHooks {
  constructor(private readonly readings: LineSink, private readonly labels: LineSink) {}

  connect(_device: SimDevice, done: (ok: boolean) => void): void {
    done(true);
  }

  disconnect(_device: SimDevice): void {}

  send(device: SimDevice, msg: OutMessage, arrival: number): void {
    if (msg.malformed !== null) return;
    const arrivalTime = device.profile.eventTime.source === 'arrival';
    for (const r of msg.readings) {
      this.readings.write(readingLine(msg.deviceId, r.metric, r.value, arrivalTime ? arrival : (r.eventTime as number), arrival));
    }
  }

  label(l: Label): void {
    this.labels.write(labelLine(l));
  }

  close(): void {
    this.readings.close();
    this.labels.close();
  }
}
