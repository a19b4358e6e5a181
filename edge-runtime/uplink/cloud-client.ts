import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import {
  CONTENT_ENCODING, CONTENT_TYPE, ROUTES, WIRE_LIMITS, encodeBatch, encodeHeartbeat, parseBatchAck, parseCheckpointAck, parseErrorBody,
  parseGatewayStatus, parseHeartbeatAck, type BatchAck, type BatchRequest, type CheckpointAck, type GatewaySyncStatus, type HeartbeatAck,
  type HeartbeatBody,
} from '../../cloud-sync/protocol.ts';
import type { Clock } from '../engine/types.ts';
import type { Timer } from '../state/group-commit-log.ts';
import { DEFAULT_TIMEOUTS, httpRequest, type HttpResponse, type HttpTimeouts } from './http-client.ts';
import { UplinkError } from './uplink-errors.ts';
import { retryAfterMs } from './backoff.ts';

/**
 * The protocol's calls over HTTP(S): each encodes its body (protocol.ts),
 * sends it with the gateway's bearer token, and returns the parsed answer
 * or throws an UplinkError carrying the cloud's error code, status,
 * Retry-After and (for E_SEQ_GAP) the cloud's contiguous seq. Connections
 * are kept alive; a request that failed on a reused connection the server
 * had just closed is sent once more on a new one.
 */
export interface CloudClientOptions {
  readonly endpoint: string;
  readonly gatewayId: string;
  /** The gateway's token (`weir-cloud gateway add NAME` printed it). Never logged. */
  readonly token: string;
  readonly timer: Timer;
  readonly clock: Clock;
  readonly timeouts?: Partial<HttpTimeouts>;
  /** Extra CA certificate(s), PEM, for an HTTPS endpoint with a private CA. */
  readonly ca?: string | Buffer;
  /** Test hook: sockets that are not real connections. */
  readonly createConnection?: () => Duplex;
}

export class CloudClient {
  readonly endpoint: URL;
  private readonly timeouts: HttpTimeouts;
  private readonly agent: http.Agent;
  private readonly aborter = new AbortController();

  constructor(private readonly o: CloudClientOptions) {
    try {
      this.endpoint = new URL(o.endpoint);
    } catch (e) {
      throw new UplinkError('E_UPLINK_CONFIG', `endpoint ${JSON.stringify(o.endpoint)} is not a URL`, { cause: e });
    }
    if (this.endpoint.protocol !== 'http:' && this.endpoint.protocol !== 'https:') {
      throw new UplinkError('E_UPLINK_CONFIG', `endpoint must be http:// or https://, got ${this.endpoint.protocol}`);
    }
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    const agentOptions = { keepAlive: true, maxSockets: 2 };
    this.agent = this.endpoint.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  get gatewayId(): string {
    return this.o.gatewayId;
  }

  async postBatch(b: BatchRequest, encoded: Uint8Array = encodeBatch(b)): Promise<BatchAck> {
    const ack = parseBatchAck(this.json(await this.send('POST', ROUTES.batches, encoded)));
    if (ack.gatewayId !== this.o.gatewayId) throw new UplinkError('E_UPLINK_PROTOCOL', `ack for gateway ${ack.gatewayId}, not ${this.o.gatewayId}`);
    return ack;
  }

  async postHeartbeat(h: HeartbeatBody): Promise<HeartbeatAck> {
    return parseHeartbeatAck(this.json(await this.send('POST', ROUTES.heartbeats, encodeHeartbeat(h))));
  }

  async postSnapshot(encoded: Uint8Array): Promise<CheckpointAck> {
    return parseCheckpointAck(this.json(await this.send('POST', ROUTES.checkpoints, encoded, WIRE_LIMITS.maxSnapshotBodyBytes)));
  }

  async status(): Promise<GatewaySyncStatus> {
    return parseGatewayStatus(this.json(await this.send('GET', ROUTES.gatewayStatus(this.o.gatewayId))));
  }

  /** The latest snapshot body (deflated CBOR), or null when the cloud has none. */
  async snapshot(): Promise<Uint8Array | null> {
    try {
      return (await this.send('GET', ROUTES.snapshot(this.o.gatewayId), undefined, WIRE_LIMITS.maxSnapshotBodyBytes)).body;
    } catch (e) {
      if (e instanceof UplinkError && e.wireCode === 'E_NOT_FOUND') return null;
      throw e;
    }
  }

  /** Aborts what is in flight and closes kept-alive connections. */
  close(): void {
    this.aborter.abort();
    this.agent.destroy();
  }

  private json(r: HttpResponse): unknown {
    try {
      return JSON.parse(r.body.toString('utf8')) as unknown;
    } catch (e) {
      throw new UplinkError('E_UPLINK_PROTOCOL', 'the cloud answered with a body that is not JSON', { cause: e });
    }
  }

  private async send(method: 'GET' | 'POST', path: string, body?: Uint8Array, maxResponseBytes = 1024 * 1024): Promise<HttpResponse> {
    const url = new URL(path, this.endpoint);
    const headers: Record<string, string> = { authorization: `Bearer ${this.o.token}`, accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = CONTENT_TYPE;
      headers['content-encoding'] = CONTENT_ENCODING;
    }
    const request = () => httpRequest({
      url, method, headers, timeouts: this.timeouts, timer: this.o.timer, agent: this.agent, maxResponseBytes, signal: this.aborter.signal,
      ...(body !== undefined ? { body } : {}), ...(this.o.ca !== undefined ? { ca: this.o.ca } : {}),
      ...(this.o.createConnection !== undefined ? { createConnection: this.o.createConnection } : {}),
    });
    let res: HttpResponse;
    try {
      res = await request();
    } catch (e) {
      // A keep-alive connection the server closed just as we reused it: one more try on a fresh one.
      const code = ((e as { cause?: { code?: string } }).cause)?.code;
      if (!(e instanceof UplinkError) || !e.reusedSocket || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw e;
      res = await request();
    }
    if (res.status >= 200 && res.status < 300) return res;
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      // not a weir error body
    }
    const err = parseErrorBody(parsed, res.status);
    const after = res.status === 429 || res.status === 503 ? retryAfterMs(res.headers['retry-after'], this.o.clock.now()) : undefined;
    throw new UplinkError('E_UPLINK_HTTP', `${method} ${path}: ${res.status} ${err.code}: ${err.message}`, {
      status: res.status, wireCode: err.code,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
      ...(err.contiguousSeq !== undefined ? { contiguousSeq: err.contiguousSeq } : {}),
    });
  }
}
