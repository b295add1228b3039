import type { IncomingMessage } from 'node:http';
import { fail } from '../errors.js';

/** Forms posted to Gatehouse are small: a whole one must arrive within this time. */
export const FORM_DEADLINE_MS = 10_000;

/**
 * Reads an `application/x-www-form-urlencoded` body up to `maxBytes` within `deadlineMs`.
 * @throws GatehouseError BAD_REQUEST (wrong type), BODY_TOO_LARGE or REQUEST_TIMEOUT
 */
export async function readForm(req: IncomingMessage, maxBytes: number, deadlineMs = FORM_DEADLINE_MS): Promise<URLSearchParams> {
  const body = await readBody(req, ['application/x-www-form-urlencoded'], maxBytes, deadlineMs);
  return new URLSearchParams(body.toString('latin1'));
}

/**
 * Reads a JSON body (`application/json`, or another JSON type given) up to `maxBytes`.
 * @throws GatehouseError BAD_REQUEST (wrong type, not JSON), BODY_TOO_LARGE or REQUEST_TIMEOUT
 */
export async function readJson(req: IncomingMessage, maxBytes: number, types: readonly string[] = ['application/json']): Promise<unknown> {
  const body = await readBody(req, types, maxBytes, FORM_DEADLINE_MS);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw fail('BAD_REQUEST', 'body-not-json');
  }
}

/**
 * Reads a whole small body of one of `types`. A larger body is refused as soon as its declared
 * length or its bytes exceed the limit, and a client that sends the head and then trickles or
 * stalls the body is cut off at the deadline.
 */
function readBody(req: IncomingMessage, types: readonly string[], maxBytes: number, deadlineMs: number): Promise<Buffer> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!types.includes(type)) return Promise.reject(fail('BAD_REQUEST', 'body-content-type'));
  if (Number(req.headers['content-length'] ?? NaN) > maxBytes) return Promise.reject(fail('BODY_TOO_LARGE', 'body-too-large'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', done);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) done(fail('BODY_TOO_LARGE', 'body-too-large'));
      else chunks.push(chunk);
    };
    const onEnd = () => done();
    const timer = setTimeout(() => done(fail('REQUEST_TIMEOUT', 'body-stalled')), deadlineMs);
    req.on('data', onData).on('end', onEnd).on('error', done);
  });
}
