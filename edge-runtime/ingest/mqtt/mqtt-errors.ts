/**
 * Errors of the MQTT ingest module. Callers switch on `code`, never on
 * message text. Local to ingest/mqtt because the shared `WeirErrorCode`
 * union is closed; the lead may fold these into errors.ts.
 *
 * No message built here ever contains a secret: credentials errors name the
 * device and the file, never the password or the stored hash.
 */
export type MqttIngestErrorCode =
  | 'E_MQTT_CONFIG'       // an option is wrong (ports, TLS material, topic filters, ...)
  | 'E_MQTT_CREDENTIALS'  // the credentials file cannot be read, parsed or written, or an entry is malformed
  | 'E_MQTT_DEVICE_ID'    // a device id is not usable as an MQTT identity (empty, wildcard, too long)
  | 'E_MQTT_LISTEN'       // a listener could not bind
  | 'E_MQTT_CONNECT'      // external-broker mode: the broker refused us or could not be reached
  | 'E_MQTT_SUBSCRIBE'    // external-broker mode: the broker refused a subscription
  | 'E_MQTT_CLOSED';      // used after close()

export class MqttIngestError extends Error {
  readonly code: MqttIngestErrorCode;
  constructor(code: MqttIngestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'MqttIngestError';
  }
}

export function isMqttIngestError(e: unknown): e is MqttIngestError {
  return e instanceof MqttIngestError;
}
