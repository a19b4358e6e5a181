import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingPatches } from './coap-client-port.ts';

test('weir\'s patches to node-coap-client and node-dtls-client are applied (patches/, by npm install)', () => {
  assert.deepEqual(missingPatches(), []);
});
