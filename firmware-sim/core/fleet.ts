/**
 * Builds the device list of a run from "N devices of profile P" entries.
 * Device ids are `<prefix>-0001`, `<prefix>-0002`, … per profile and must
 * match the profile's id pattern (the gateway validates with it).
 */
import type { DeviceProfile } from '../../devices/index.ts';
import { deviceIdMatches, deviceIdPrefix } from '../../devices/index.ts';
import { DEFAULT_FAULT_WEIGHTS } from './faults.ts';
import type { FaultConfig } from './faults.ts';
import { SimDevice } from './sim-device.ts';
import { SimError } from './sim-error.ts';

export interface FleetEntry {
  readonly profile: DeviceProfile;
  readonly count: number;
  /** Overrides the profile's sampling interval, ms. */
  readonly intervalMs?: number;
}

export interface FleetOptions {
  readonly seed: number;
  readonly start: number;
  readonly end: number | null;
  readonly faults: FaultConfig;
  readonly skewMaxMs: number;
  readonly driftMaxPpm: number;
  readonly jitterMaxMs: number;
}

export const NO_FAULTS: FaultConfig = { perDay: 0, weights: DEFAULT_FAULT_WEIGHTS };

export function deviceId(profile: DeviceProfile, n: number): string {
  return `${deviceIdPrefix(profile)}-${String(n).padStart(4, '0')}`;
}

export function buildFleet(entries: readonly FleetEntry[], o: FleetOptions): SimDevice[] {
  const out: SimDevice[] = [];
  for (const e of entries) {
    for (let n = 1; n <= e.count; n++) {
      const id = deviceId(e.profile, n);
      if (!deviceIdMatches(e.profile, id)) {
        throw new SimError('E_SIM_CONFIG', `device id ${id} does not match ${e.profile.name}.deviceIdPattern ${e.profile.deviceIdPattern}`);
      }
      out.push(new SimDevice({
        profile: e.profile,
        id,
        seed: o.seed,
        intervalMs: e.intervalMs ?? e.profile.samplingIntervalMs,
        start: o.start,
        end: o.end,
        faults: o.faults,
        skewMaxMs: o.skewMaxMs,
        driftMaxPpm: o.driftMaxPpm,
        jitterMaxMs: o.jitterMaxMs,
      }));
    }
  }
  return out;
}
