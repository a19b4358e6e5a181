/**
 * MQTT ingest: the embedded broker (aedes) and external-broker mode
 * (mqtt.js), both feeding the shared Ingestor. See README.md.
 */
export { EmbeddedBroker } from './embedded-broker.ts';
export type { BrokerCounters, BrokerMetrics, EmbeddedBrokerOptions } from './embedded-broker.ts';
export type { BoundPorts, ListenOptions, TlsMaterial } from './broker-listeners.ts';
export { ExternalBrokerIngest } from './external-broker-ingest.ts';
export type { ExternalBrokerOptions, ExternalCounters } from './external-broker-ingest.ts';
export { DeviceAuthenticator } from './device-authenticator.ts';
export type { AuthCounters, AuthFailure, AuthResult, CredentialLookup, DeviceAuthenticatorOptions } from './device-authenticator.ts';
export {
  CredentialsFile, GENERATED_SECRET_SCRYPT, SUPPLIED_SECRET_SCRYPT, checkDeviceId, generateSecret, hashSecret, parseHash, verifySecret,
} from './credentials-file.ts';
export type { ParsedHash, ScryptParams } from './credentials-file.ts';
export { DEVICE_USAGE, runDeviceCommand } from './device-cli.ts';
export type { DeviceCliIo } from './device-cli.ts';
export type { FlowCounters, FlowLimits, IngestSink } from './ingest-flow.ts';
export { DEFAULT_COMMAND_TOPIC, TopicAcl } from './topic-acl.ts';
export { MqttIngestError, isMqttIngestError } from './mqtt-errors.ts';
export type { MqttIngestErrorCode } from './mqtt-errors.ts';
