import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyConnectFailure } from './coap-errors.ts';

test('connection failures map to stable codes by the DTLS layer\'s code, never by message text', () => {
  const coded = (code: string | undefined, message: string): Error => Object.assign(new Error(message), code === undefined ? {} : { code });
  const cases: [unknown, string][] = [
    [coded('DTLS_AUTH_FAILED', 'x'), 'E_COAP_AUTH'],
    [coded('DTLS_HANDSHAKE_TIMEOUT', 'x'), 'E_COAP_TIMEOUT'],
    [coded('DTLS_CONNECTION_TIMEOUT', 'x'), 'E_COAP_TIMEOUT'],
    [coded('DTLS_ALERT', 'received fatal alert: internal_error'), 'E_COAP_DTLS'],
    [coded('DTLS_PROTOCOL_ERROR', 'unsupported message type 11'), 'E_COAP_DTLS'],
    [coded(undefined, 'bad_record_mac'), 'E_COAP_DTLS'], // text is not a code
    ['CoapClient was reset', 'E_COAP_DTLS'],
  ];
  for (const [e, want] of cases) {
    const got = classifyConnectFailure('cold-0001', e);
    assert.equal(got.code, want, String(e));
    assert.equal(got.deviceId, 'cold-0001');
    assert.equal(got.cause, e);
  }
});
