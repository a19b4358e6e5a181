/** Record mode: run the fleet in simulated time, as fast as the CPU allows, into NDJSON. */
import { FleetEngine } from '../core/fleet-engine.ts';
import type { FleetStats } from '../core/fleet-stats.ts';
import { buildFleet } from '../core/fleet.ts';
import { engineConfig, fleetOptions } from '../core/sim-config.ts';
import type { SimConfig } from '../core/sim-config.ts';
import { SimError } from '../core/sim-error.ts';
import type { LineSink } from './ndjson-file.ts';
import { RecordTransport } from './record-transport.ts';

export function runRecord(config: SimConfig, readings: LineSink, labels: LineSink): FleetStats {
  if (config.durationMs === null) throw new SimError('E_SIM_USAGE', 'record mode needs a duration');
  const transport = new RecordTransport(readings, labels);
  const engine = new FleetEngine(buildFleet(config.fleet, fleetOptions(config)), engineConfig(config, false), transport, transport);
  try {
    engine.finish();
  } finally {
    transport.close();
  }
  return engine.stats;
}

/** `out.ndjson` → `out.labels.ndjson` (the labels file sits beside the readings). */
export function labelsPathFor(readingsPath: string): string {
  return readingsPath.endsWith('.ndjson') ? `${readingsPath.slice(0, -'.ndjson'.length)}.labels.ndjson` : `${readingsPath}.labels.ndjson`;
}
