/** Everything one simulator run is configured by, with the defaults the CLI uses. */
import { DEFAULT_FAULT_WEIGHTS } from './faults.ts';
import type { FaultConfig } from './faults.ts';
import type { EngineConfig, LinkConfig } from './fleet-engine.ts';
import type { FleetEntry, FleetOptions } from './fleet.ts';

export interface SimConfig {
  readonly fleet: readonly FleetEntry[];
  readonly seed: number;
  /** Simulated start, ms since epoch. */
  readonly start: number;
  /** Simulated duration, ms; null runs until stopped (live mode only). */
  readonly durationMs: number | null;
  readonly badRate: number;
  readonly faults: FaultConfig;
  readonly skewMaxMs: number;
  readonly driftMaxPpm: number;
  readonly jitterMaxMs: number;
  readonly link: LinkConfig;
}

/** 2026-01-01T00:00:00Z. */
export const DEFAULT_START = 1_767_225_600_000;

export const DEFAULT_LINK: LinkConfig = {
  outagesPerDay: 2,
  meanOutageMs: 90_000,
  storm: null,
  backoffBaseMs: 1000,
  backoffCapMs: 60_000,
  latencyBaseMs: 2,
  latencyJitterMs: 3,
  bufferLimit: 2000,
  replaySpacingMs: 5,
  newestFirstShare: 0.25,
};

export const DEFAULT_FAULTS: FaultConfig = { perDay: 4, weights: DEFAULT_FAULT_WEIGHTS };

export function defaultConfig(fleet: readonly FleetEntry[], overrides: Partial<SimConfig> = {}): SimConfig {
  return {
    fleet,
    seed: 1,
    start: DEFAULT_START,
    durationMs: 3_600_000,
    badRate: 0,
    faults: DEFAULT_FAULTS,
    skewMaxMs: 2000,
    driftMaxPpm: 50,
    jitterMaxMs: 20,
    link: DEFAULT_LINK,
    ...overrides,
  };
}

export function fleetOptions(c: SimConfig): FleetOptions {
  return {
    seed: c.seed,
    start: c.start,
    end: c.durationMs === null ? null : c.start + c.durationMs,
    faults: c.faults,
    skewMaxMs: c.skewMaxMs,
    driftMaxPpm: c.driftMaxPpm,
    jitterMaxMs: c.jitterMaxMs,
  };
}

export function engineConfig(c: SimConfig, encodePayloads: boolean): EngineConfig {
  return {
    seed: c.seed,
    start: c.start,
    end: c.durationMs === null ? null : c.start + c.durationMs,
    badRate: c.badRate,
    encodePayloads,
    link: c.link,
  };
}
