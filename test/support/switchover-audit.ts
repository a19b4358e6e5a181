/**
 * The checks every crash run ends with, as data (the test asserts on it):
 *
 * - delivery: each message the publisher saw acknowledged is in the
 *   gateway's log at least once, and no message is there more often than
 *   it was sent — MQTT QoS 1 is at-least-once, so a message whose PUBACK a
 *   crash swallowed is sent again and may be logged twice (`loggedTwice`);
 * - processing: the cloud holds exactly the results of running the
 *   pipelines once over the log as it stands (exactly-once from the durable
 *   log to the cloud, whatever was killed on the way);
 * - against the undisturbed run: equal whenever nothing was logged twice.
 */
import type { CloudContents, ResultSet } from './cloud-view.ts';
import { diffResults, resultSetOf } from './cloud-view.ts';
import { deliveryAudit, readGatewayLog } from './gateway-log.ts';
import type { ReadingPublisher } from './reading-publisher.ts';
import { referenceOutputs } from './seeded-input.ts';

export interface CrashAudit {
  readonly delivery: ReturnType<typeof deliveryAudit>;
  readonly loggedReadings: number;
  /** Cloud vs the pipelines over the gateway's log, once: must be empty. */
  readonly vsLog: string[];
  /** Cloud vs the undisturbed run: empty unless readings were logged twice. */
  readonly vsUndisturbed: string[];
}

export async function auditCrashRun(gatewayDb: string, publisher: ReadingPublisher, got: CloudContents, undisturbed: ResultSet): Promise<CrashAudit> {
  const log = await readGatewayLog(gatewayDb);
  const delivery = deliveryAudit(log.readings, publisher.messages.map((m, i) => ({ readings: m.readings, sends: publisher.sends[i]!, acked: publisher.acked[i] === 1 })));
  return {
    delivery,
    loggedReadings: log.readings.length,
    vsLog: diffResults(resultSetOf(referenceOutputs(log.readings)), got),
    vsUndisturbed: diffResults(undisturbed, got),
  };
}
