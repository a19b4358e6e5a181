import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { obj, only, port, str } from '../config/fields.ts';
import { CredentialsFile, DeviceAuthenticator, EmbeddedBroker, ExternalBrokerIngest, type BoundPorts } from '../ingest/mqtt/index.ts';
import type { Gateway, GatewayService } from './gateway.ts';

/**
 * The `mqtt:` section of the gateway config:
 *
 * ```yaml
 * mqtt:
 *   embedded:                      # weir's own broker (MQTT 3.1/3.1.1; v5 devices use external mode)
 *     host: 0.0.0.0
 *     port: 1883                   # 0 = any free port (printed in the log)
 *     tls: { port: 8883, cert: server.pem, key: server.key }
 *     ws: { port: 8080, path: /mqtt }
 *     auth: credentials            # or anonymous (development only)
 *     credentials: devices.json    # default: <stateDir>/devices.json — `weir device add ID` writes it
 *   external:                      # or: a client of an existing broker (MQTT 3.1.1 or 5)
 *     url: mqtt://broker:1883
 *     clientId: weir-gw-01         # the broker keeps the persistent session under it
 *     protocolVersion: 5
 *     username: weir
 *     passwordFile: /etc/weir/broker-password
 * ```
 */

export interface MqttService extends GatewayService {
  readonly name: 'mqtt';
  readonly ports: BoundPorts | null;
  readonly broker: EmbeddedBroker | null;
  readonly external: ExternalBrokerIngest | null;
}

export async function startMqttService(g: Gateway): Promise<MqttService | null> {
  const section = g.config.mqtt;
  if (section === null) return null;
  only(section, 'mqtt', ['embedded', 'external']);
  const rel = (p: string): string => (isAbsolute(p) ? p : resolve(g.config.baseDir, p));
  const file = (v: unknown, field: string): Buffer => {
    const p = rel(str(v, field));
    try {
      return readFileSync(p);
    } catch (e) {
      throw new ConfigError(field, `cannot read ${p}: ${(e as Error).message}`, { cause: e });
    }
  };
  let broker: EmbeddedBroker | null = null;
  let ports: BoundPorts | null = null;
  let external: ExternalBrokerIngest | null = null;
  let unwatch: () => void = () => {};
  if (section.embedded !== undefined) {
    const e = obj(section.embedded, 'mqtt.embedded');
    only(e, 'mqtt.embedded', ['host', 'port', 'tls', 'ws', 'auth', 'credentials']);
    const authMode = e.auth ?? 'credentials';
    if (authMode !== 'credentials' && authMode !== 'anonymous') throw new ConfigError('mqtt.embedded.auth', `expected credentials or anonymous, got ${JSON.stringify(authMode)}`);
    let auth: DeviceAuthenticator | 'anonymous' = 'anonymous';
    if (authMode === 'credentials') {
      const path = e.credentials === undefined ? join(g.config.stateDir, 'devices.json') : rel(str(e.credentials, 'mqtt.embedded.credentials'));
      const authenticator = new DeviceAuthenticator({ credentials: CredentialsFile.load(path, { createIfMissing: true }) });
      auth = authenticator;
      unwatch = watchCredentials(path, authenticator, g);
    } else {
      g.logger.log('warn', 'embedded MQTT broker accepts devices without credentials (auth: anonymous)');
    }
    let tls;
    if (e.tls !== undefined) {
      const t = obj(e.tls, 'mqtt.embedded.tls');
      only(t, 'mqtt.embedded.tls', ['port', 'cert', 'key', 'ca']);
      tls = { port: port(t.port ?? 8883, 'mqtt.embedded.tls.port'), cert: file(t.cert, 'mqtt.embedded.tls.cert'), key: file(t.key, 'mqtt.embedded.tls.key'), ...(t.ca !== undefined ? { ca: file(t.ca, 'mqtt.embedded.tls.ca') } : {}) };
    }
    let ws;
    if (e.ws !== undefined) {
      const w = obj(e.ws, 'mqtt.embedded.ws');
      only(w, 'mqtt.embedded.ws', ['port', 'path']);
      ws = { port: port(w.port ?? 8080, 'mqtt.embedded.ws.port'), ...(w.path !== undefined ? { path: str(w.path, 'mqtt.embedded.ws.path') } : {}) };
    }
    broker = new EmbeddedBroker({ ingestor: g.ingestor, auth, logger: g.logger });
    ports = await broker.start({
      host: e.host === undefined ? '0.0.0.0' : str(e.host, 'mqtt.embedded.host'),
      port: port(e.port ?? 1883, 'mqtt.embedded.port'),
      ...(tls ? { tls } : {}),
      ...(ws ? { ws } : {}),
    });
  }
  if (section.external !== undefined) {
    const x = obj(section.external, 'mqtt.external');
    only(x, 'mqtt.external', ['url', 'clientId', 'protocolVersion', 'username', 'passwordFile']);
    const pv = x.protocolVersion ?? 4;
    if (pv !== 4 && pv !== 5) throw new ConfigError('mqtt.external.protocolVersion', `expected 4 (MQTT 3.1.1) or 5, got ${JSON.stringify(pv)}`);
    external = new ExternalBrokerIngest({
      url: str(x.url, 'mqtt.external.url'),
      clientId: x.clientId === undefined ? `weir-${g.config.gatewayId}` : str(x.clientId, 'mqtt.external.clientId'),
      protocolVersion: pv,
      ...(x.username !== undefined ? { username: str(x.username, 'mqtt.external.username') } : {}),
      ...(x.passwordFile !== undefined ? { password: file(x.passwordFile, 'mqtt.external.passwordFile').toString('utf8').trim() } : {}),
      ingestor: g.ingestor,
      profiles: g.config.profiles,
      logger: g.logger,
    });
    await external.start();
    g.logger.log('info', 'mqtt external broker ingest started', { clientId: x.clientId ?? `weir-${g.config.gatewayId}`, protocolVersion: pv });
  }
  return {
    name: 'mqtt',
    ports,
    broker,
    external,
    stop: async () => {
      unwatch();
      await external?.close();
      await broker?.close();
    },
  };
}

/**
 * `weir device add|remove` edits the credentials file while the gateway runs
 * (atomically, by rename). The gateway polls the file's stat every 2 s and
 * takes the new set when it changed: a device added now can connect without
 * a restart. A file that fails its checks is refused (logged with its code)
 * and the previous credentials stay in force. A removed device's open
 * connection is not cut; it is refused at its next connect.
 */
function watchCredentials(path: string, auth: DeviceAuthenticator, g: Gateway): () => void {
  const onChange = (cur: Stats, prev: Stats): void => {
    if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
    try {
      const next = CredentialsFile.load(path, { createIfMissing: true });
      auth.setCredentials(next);
      g.logger.log('info', 'mqtt device credentials reloaded', { path, devices: next.size });
    } catch (e) {
      g.logger.log('error', 'mqtt device credentials not reloaded: keeping the previous ones', { path, code: (e as { code?: string }).code, error: (e as Error).message });
    }
  };
  watchFile(path, { interval: 2000, persistent: false }, onChange);
  return () => unwatchFile(path, onChange);
}
