import type { IncomingMessage } from 'node:http';
import { fail } from '../errors.js';

/**
 * Reads an `application/x-www-form-urlencoded` body up to `maxBytes`. A larger body is refused
 * as soon as its declared length or its bytes exceed the limit, without buffering the rest.
 * @throws GatehouseError BAD_REQUEST (wrong type) or BODY_TOO_LARGE
 */
export async function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw fail('BAD_REQUEST', 'form-content-type');
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBytes) throw fail('BODY_TOO_LARGE', 'form-too-large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw fail('BODY_TOO_LARGE', 'form-too-large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('latin1'));
}
