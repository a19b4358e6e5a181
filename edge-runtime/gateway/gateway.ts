import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayConfig } from '../config/gateway-config.ts';
import { WorkerStateStore } from '../state/worker-store.ts';
import { SqliteColdStores } from '../state/cold-store.ts';
import { GatewayRuntime } from '../runtime/gateway-runtime.ts';
import { Ingestor } from '../ingest/ingestor.ts';
import { RecentReadings } from '../ingest/recent-readings.ts';
import { rememberLogTail } from '../ingest/recent-readings-from-log.ts';
import type { Clock } from '../engine/types.ts';
import { systemClock } from '../engine/types.ts';
import type { Logger } from '../log.ts';
import type { SeriesContext } from '../anomaly/detector.ts';
import { deviceIdMatches, type DeviceProfile } from '../../devices/index.ts';

/** Something the gateway starts after the runtime and stops before it (MQTT broker, CoAP observer, uplink, HTTP). */
export interface GatewayService {
  readonly name: string;
  /**
   * Stop this one after the runtime's final checkpoint instead of before it (the uplink: so what
   * that checkpoint commits can still go up), but before the store closes.
   */
  readonly stopAfterRuntime?: boolean;
  stop(): Promise<void>;
}

export type ServiceFactory = (g: Gateway) => Promise<GatewayService | null>;

/** What a device's profile says about one of its series, for detectors. */
export function seriesContextFrom(profiles: readonly DeviceProfile[]): (deviceId: string, metric: string) => SeriesContext {
  const cache = new Map<string, DeviceProfile | null>();
  return (deviceId, metric) => {
    let p = cache.get(deviceId);
    if (p === undefined) {
      p = profiles.find((x) => deviceIdMatches(x, deviceId)) ?? null;
      if (cache.size < 100_000) cache.set(deviceId, p);
    }
    const m = p?.metrics[metric];
    return { ...(m ? { validRange: m.range } : {}), ...(p ? { expectedIntervalMs: p.samplingIntervalMs } : {}) };
  };
}

/**
 * The gateway process: state store (SQLite on a worker thread), the runtime
 * (durable log → pipelines → checkpoints), the shared ingest path, and the
 * services around them. Start-up order: store, runtime (recovery), ingest,
 * services; shutdown in reverse, ending with a final checkpoint.
 */
export class Gateway {
  private services: GatewayService[] = [];
  private stopping: Promise<void> | null = null;
  /** Wall-clock start, for uptime. */
  readonly startedAt = Date.now();

  /** A running service by name (e.g. 'http', 'mqtt'). */
  service<S extends GatewayService>(name: string): S | undefined {
    return this.services.find((s) => s.name === name) as S | undefined;
  }

  private constructor(
    readonly config: GatewayConfig,
    readonly store: WorkerStateStore,
    readonly cold: SqliteColdStores | null,
    readonly runtime: GatewayRuntime,
    readonly ingestor: Ingestor,
    readonly logger: Logger,
    readonly clock: Clock,
  ) {}

  static async start(config: GatewayConfig, opts: { logger: Logger; clock?: Clock; services?: readonly ServiceFactory[] }): Promise<Gateway> {
    const { logger } = opts;
    const clock = opts.clock ?? systemClock;
    mkdirSync(config.stateDir, { recursive: true });
    const windowSpecs: Record<string, NonNullable<GatewayConfig['pipelines'][number]['aggregates']>> = {};
    for (const p of config.pipelines) if (p.window !== null) windowSpecs[p.name] = p.aggregates;
    const store = await WorkerStateStore.open({
      path: join(config.stateDir, 'weir.db'),
      synchronous: config.durability,
      cacheSizeKiB: Math.ceil(config.sqliteCacheBytes / 1024),
      outbox: { maxBytes: config.outbox.maxBytes, windowSpecs },
      quarantine: { maxRows: config.quarantine.maxRows, maxBytes: config.quarantine.maxBytes },
    });
    for (const ev of store.openReport.events) logger.log('warn', ev.message, { code: ev.code, ...(ev.movedTo ? { movedTo: ev.movedTo } : {}) });
    // Before the runtime (which trims the log) and any transport: a device re-sending what was made durable
    // just before the last stop or crash must find it remembered.
    let recent: RecentReadings | null = null;
    if (config.ingest.dedupWindow > 0) {
      recent = new RecentReadings(config.ingest.dedupWindow);
      try {
        const r = await rememberLogTail(recent, store);
        logger.log('info', 'recent readings remembered for de-duplication', {
          window: recent.capacity, fromOffset: r.fromOffset, records: r.records, readings: r.readings, ms: Math.round(r.ms),
        });
      } catch (e) {
        await store.close();
        throw e;
      }
    }
    const cold = config.memory !== null && config.memory.policy === 'spill' ? new SqliteColdStores(join(config.stateDir, 'spill.db')) : null;
    let runtime: GatewayRuntime;
    try {
      runtime = await GatewayRuntime.start({
        store,
        plans: config.pipelines,
        clock,
        logger,
        checkpointIntervalMs: config.checkpointIntervalMs,
        ...(config.checkpointMaxRows !== null ? { checkpointMaxRows: config.checkpointMaxRows } : {}),
        tickIntervalMs: config.tickIntervalMs,
        seriesContext: seriesContextFrom(config.profiles),
        retention: { ...(config.log.maxBytes !== null ? { maxBytes: config.log.maxBytes } : {}), ...(config.log.maxAgeMs !== null ? { maxAgeMs: config.log.maxAgeMs } : {}) },
        ...(config.memory !== null ? { memory: { bytes: config.memory.budgetBytes, policy: config.memory.policy } } : {}),
        ...(cold !== null ? { coldStore: (ns: string) => cold.forNamespace(ns) } : {}),
      });
    } catch (e) {
      cold?.close();
      await store.close();
      throw e;
    }
    const ingestor = new Ingestor({
      profiles: config.profiles,
      log: runtime,
      quarantine: store,
      clock,
      maxPayloadBytes: config.ingest.maxPayloadBytes,
      outOfRange: config.ingest.outOfRange,
      recent,
    });
    const g = new Gateway(config, store, cold, runtime, ingestor, logger, clock);
    try {
      for (const f of opts.services ?? []) {
        const s = await f(g);
        if (s !== null) g.services.push(s);
      }
    } catch (e) {
      await g.stop();
      throw e;
    }
    logger.log('info', 'gateway started', {
      gatewayId: config.gatewayId,
      stateDir: config.stateDir,
      pipelines: config.pipelines.map((p) => p.name),
      recoveredFrom: runtime.stats.processedOffset,
      replayed: runtime.stats.replayedRecords,
    });
    return g;
  }

  /**
   * Stops services (newest first: transports before anything else), then the runtime with a final
   * checkpoint, then the services that must see that checkpoint (the uplink's last upload), then the store.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const stopAll = async (services: GatewayService[]): Promise<void> => {
        for (const s of services) {
          try {
            await s.stop();
          } catch (e) {
            this.logger.log('error', 'service failed to stop', { service: s.name, error: (e as Error).message });
          }
        }
      };
      const newestFirst = [...this.services].reverse();
      await stopAll(newestFirst.filter((s) => s.stopAfterRuntime !== true));
      this.ingestor.flush();
      try {
        await this.runtime.close();
      } finally {
        await stopAll(newestFirst.filter((s) => s.stopAfterRuntime === true));
      }
      await this.store.close();
      this.cold?.close();
      this.logger.log('info', 'gateway stopped', { checkpoints: this.runtime.stats.checkpoints, processedOffset: this.runtime.stats.processedOffset });
    })();
    return this.stopping;
  }
}
