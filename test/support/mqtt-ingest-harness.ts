/**
 * A gateway for the MQTT ingest tests, in-process: a LocalStateStore in a
 * temporary directory, a GatewayRuntime over it (no timers: no checkpoints
 * or ticks unless asked), the shared Ingestor and an EmbeddedBroker on
 * 127.0.0.1 ephemeral ports. The store can be "gated": appends then wait
 * until the test opens the gate, which is how tests hold durability back.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DeviceProfile } from '../../devices/index.ts';
import { BUILTIN_PROFILES } from '../../devices/index.ts';
import type { Reading, SourceRecord } from '../../edge-runtime/engine/types.ts';
import { Ingestor } from '../../edge-runtime/ingest/ingestor.ts';
import type { DeviceAuthenticator } from '../../edge-runtime/ingest/mqtt/device-authenticator.ts';
import { EmbeddedBroker, type EmbeddedBrokerOptions } from '../../edge-runtime/ingest/mqtt/embedded-broker.ts';
import type { BoundPorts, ListenOptions } from '../../edge-runtime/ingest/mqtt/broker-listeners.ts';
import { GatewayRuntime, type RuntimeOptions } from '../../edge-runtime/runtime/gateway-runtime.ts';
import { LocalStateStore } from '../../edge-runtime/state/local-store.ts';
import type { QuarantineRow, StateStore } from '../../edge-runtime/state/store-types.ts';
import type { PipelinePlan } from '../../edge-runtime/pipeline/plan.ts';

export function tempDir(): { dir: string; file: (n: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-mqtt-'));
  return { dir, file: (n) => path.join(dir, n), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A gate appends wait on while closed (or fail at, while `failWith` is set). */
export class Gate {
  private open = true;
  private waiters: (() => void)[] = [];
  /** Appends that reached the store while closed. */
  held = 0;
  failWith: Error | null = null;
  close(): void {
    this.open = false;
  }
  release(): void {
    this.open = true;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  pass(): Promise<void> {
    if (this.failWith !== null) return Promise.reject(this.failWith);
    if (this.open) return Promise.resolve();
    this.held++;
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** A StateStore whose log appends (and optionally quarantine writes) wait at a gate, with an optional delay per batch. */
export function gatedStore(inner: StateStore, gate: Gate, o: { quarantineToo?: boolean; slowMsPerBatch?: number } = {}): StateStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'appendSegment') {
        return async (records: readonly SourceRecord[], createdAtMs?: number) => {
          await gate.pass();
          if (o.slowMsPerBatch !== undefined) await new Promise((r) => setTimeout(r, o.slowMsPerBatch));
          return target.appendSegment(records, createdAtMs);
        };
      }
      if (prop === 'quarantine' && o.quarantineToo === true) {
        return async (entries: Parameters<StateStore['quarantine']>[0]) => {
          await gate.pass();
          return target.quarantine(entries);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export interface TestGateway {
  readonly broker: EmbeddedBroker;
  readonly runtime: GatewayRuntime;
  readonly store: LocalStateStore;
  readonly ingestor: Ingestor;
  readonly ports: BoundPorts;
  readonly url: string;
  readonly gate: Gate;
  readings(): Promise<Reading[]>;
  quarantined(): Promise<QuarantineRow[]>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  readonly auth?: DeviceAuthenticator | 'anonymous';
  readonly profiles?: readonly DeviceProfile[];
  readonly plans?: readonly PipelinePlan[];
  readonly listen?: ListenOptions;
  readonly broker?: Partial<Omit<EmbeddedBrokerOptions, 'ingestor' | 'auth'>>;
  readonly runtime?: Partial<Omit<RuntimeOptions, 'store' | 'plans'>>;
  readonly slowMsPerBatch?: number;
  readonly gateQuarantine?: boolean;
  readonly maxPayloadBytes?: number;
}

export async function startTestGateway(o: TestGatewayOptions = {}): Promise<TestGateway> {
  const tmp = tempDir();
  const store = await LocalStateStore.open({ path: tmp.file('gw.db'), synchronous: 'NORMAL' });
  const gate = new Gate();
  const gated = gatedStore(store, gate, { quarantineToo: o.gateQuarantine ?? false, ...(o.slowMsPerBatch === undefined ? {} : { slowMsPerBatch: o.slowMsPerBatch }) });
  const runtime = await GatewayRuntime.start({ store: gated, plans: o.plans ?? [], checkpointIntervalMs: 0, tickIntervalMs: 0, ...o.runtime });
  const ingestor = new Ingestor({
    profiles: o.profiles ?? BUILTIN_PROFILES,
    log: runtime,
    quarantine: gated,
    quarantineDelayMs: 1,
    ...(o.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: o.maxPayloadBytes }),
  });
  const broker = new EmbeddedBroker({ ingestor, auth: o.auth ?? 'anonymous', ...o.broker });
  const ports = await broker.start(o.listen ?? {});
  let closed = false;
  return {
    broker, runtime, store, ingestor, ports, gate,
    url: `mqtt://127.0.0.1:${ports.tcp ?? 0}`,
    async readings() {
      const out: Reading[] = [];
      for await (const seg of store.readFrom(1)) for (const r of seg.records) if (r.type === 'reading') out.push(r.reading);
      return out;
    },
    quarantined: () => store.readQuarantine(0, 1_000_000),
    async close() {
      if (closed) return;
      closed = true;
      gate.release();
      await broker.close();
      ingestor.flush();
      await runtime.close();
      await store.close();
      tmp.cleanup();
    },
  };
}

/** A self-signed certificate for 127.0.0.1 / localhost (openssl), in `dir`. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
}

/** Resolves when `pred()` holds (polled every 2 ms: waiting on a condition, with a deadline only as a safety net). */
export async function until(pred: () => boolean | Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const t0 = performance.now();
  while (!(await pred())) {
    if (performance.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export { once };
