import type { ServiceFactory } from './gateway.ts';
import { startHttpService } from './http-service.ts';
import { startUplinkService } from '../uplink/uplink-service.ts';
import { startMqttService } from './mqtt-service.ts';
import { startCoapService } from './coap-service.ts';

/**
 * The services `weir run` starts around the runtime, in order, from the
 * config file's sections (http, cloud; mqtt and coap as they are wired).
 * Each factory returns null when its section is absent; they stop in
 * reverse order, before the runtime's final checkpoint.
 */
export function defaultServices(): ServiceFactory[] {
  return [
    (g) => (g.config.http === null ? Promise.resolve(null) : startHttpService(g, g.config.http.host, g.config.http.port)),
    (g) => startUplinkService(g),
    // Transports last: devices are taken in only once everything behind them runs.
    (g) => startMqttService(g),
    (g) => startCoapService(g),
  ];
}
