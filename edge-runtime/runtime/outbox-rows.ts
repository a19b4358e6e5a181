import { Encoder } from 'cbor-x';
import type { PipelineOutput } from '../engine/outputs.ts';
import { KEY_SEP } from '../engine/key.ts';
import { encodeWindowPayload } from '../state/window-merge.ts';
import { PRIORITY_AGGREGATE, PRIORITY_ANOMALY, PRIORITY_RAW, type OutboxInput } from '../state/store-types.ts';

const cbor = new Encoder({ useRecords: false });

/** The series a result belongs to: pipeline plus key values, the unit the outbox merges and the cloud queries by. */
export function seriesOf(o: PipelineOutput): string {
  return `${o.pipeline}${KEY_SEP}${Object.values(o.key).join(KEY_SEP)}`;
}

/** One pipeline output as an outbox row: anomalies first, windows are aggregates (mergeable), late readings are raw. */
export function toOutboxInput(o: PipelineOutput): OutboxInput {
  switch (o.type) {
    case 'window':
      return { priority: PRIORITY_AGGREGATE, kind: 'window', series: seriesOf(o), tStart: o.start, tEnd: o.end, payload: encodeWindowPayload(o) };
    case 'anomaly':
      return { priority: PRIORITY_ANOMALY, kind: 'anomaly', series: seriesOf(o), tStart: o.eventTime, tEnd: o.eventTime + 1, payload: cbor.encode(o) };
    case 'late':
      return {
        priority: PRIORITY_RAW,
        kind: 'late',
        series: seriesOf(o),
        tStart: o.reading.eventTime,
        tEnd: o.reading.eventTime + 1,
        payload: cbor.encode(o),
      };
  }
}
