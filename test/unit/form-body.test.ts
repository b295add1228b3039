import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { isGatehouseError } from '../../proxy/errors.js';
import { readForm } from '../../proxy/server/form-body.js';

function fakeRequest(headers: Record<string, string>): PassThrough & IncomingMessage {
  return Object.assign(new PassThrough(), { headers }) as unknown as PassThrough & IncomingMessage;
}

const code = async (p: Promise<unknown>) => p.then(() => 'ok', (err: unknown) => (isGatehouseError(err) ? err.code : 'other'));

describe('readForm', () => {
  test('reads a url-encoded form', async () => {
    const req = fakeRequest({ 'content-type': 'application/x-www-form-urlencoded' });
    const form = readForm(req, 100);
    req.end('a=1&b=two');
    assert.equal((await form).get('b'), 'two');
  });

  test('slowloris body: a form that stalls is cut at the deadline with REQUEST_TIMEOUT', async () => {
    const req = fakeRequest({ 'content-type': 'application/x-www-form-urlencoded', 'content-length': '100' });
    const form = readForm(req, 1000, 50);
    req.write('a=1');
    assert.equal(await code(form), 'REQUEST_TIMEOUT');
  });

  test('memory exhaustion: a body over the limit is refused as it streams, and by its declared length', async () => {
    const streaming = fakeRequest({ 'content-type': 'application/x-www-form-urlencoded' });
    const form = readForm(streaming, 10);
    streaming.write('a'.repeat(11));
    assert.equal(await code(form), 'BODY_TOO_LARGE');
    assert.equal(await code(readForm(fakeRequest({ 'content-type': 'application/x-www-form-urlencoded', 'content-length': '11' }), 10)), 'BODY_TOO_LARGE');
  });

  test('wrong content type is refused', async () => {
    assert.equal(await code(readForm(fakeRequest({ 'content-type': 'application/json' }), 10)), 'BAD_REQUEST');
  });
});
