import { request } from 'undici';
import { fail } from '../errors.js';

const MAX_METADATA_BYTES = 2 * 1024 * 1024;
/** Default time allowed for the response head, and again for the body. */
export const FETCH_TIMEOUT_MS = 10_000;

/**
 * GETs IdP metadata from its URL: status 200, at most 2 MiB, within the timeout.
 * undici follows no redirects unless told to: metadata must come from the configured URL.
 * @throws GatehouseError BAD_REQUEST `metadata-http-<status>` / `metadata-too-large`; network errors as thrown
 */
export async function fetchMetadataText(url: string, timeoutMs = FETCH_TIMEOUT_MS): Promise<string> {
  const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw fail('BAD_REQUEST', `metadata-http-${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_METADATA_BYTES) {
      res.body.destroy();
      throw fail('BAD_REQUEST', 'metadata-too-large');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
