import type { IncomingMessage } from 'node:http';
import { fail } from '../errors.js';

/** Forms posted to Gatehouse are small: a whole one must arrive within this time. */
export const FORM_DEADLINE_MS = 10_000;

/**
 * Reads an `application/x-www-form-urlencoded` body up to `maxBytes` within `deadlineMs`.
 * A larger body is refused as soon as its declared length or its bytes exceed the limit, and a
 * client that sends the head and then trickles or stalls the body is cut off at the deadline.
 * @throws GatehouseError BAD_REQUEST (wrong type), BODY_TOO_LARGE or REQUEST_TIMEOUT
 */
export function readForm(req: IncomingMessage, maxBytes: number, deadlineMs = FORM_DEADLINE_MS): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return Promise.reject(fail('BAD_REQUEST', 'form-content-type'));
  if (Number(req.headers['content-length'] ?? NaN) > maxBytes) return Promise.reject(fail('BODY_TOO_LARGE', 'form-too-large'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', done);
      if (err) reject(err);
      else resolve(new URLSearchParams(Buffer.concat(chunks).toString('latin1')));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) done(fail('BODY_TOO_LARGE', 'form-too-large'));
      else chunks.push(chunk);
    };
    const onEnd = () => done();
    const timer = setTimeout(() => done(fail('REQUEST_TIMEOUT', 'form-body-stalled')), deadlineMs);
    req.on('data', onData).on('end', onEnd).on('error', done);
  });
}
