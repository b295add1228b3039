import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { request } from 'undici';
import { fail } from '../errors.js';
import type { Logger } from '../log.js';
import { parseIdpMetadata, type IdpMetadata } from './idp-metadata.js';

const MAX_METADATA_BYTES = 2 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

/** Where a connection's IdP metadata comes from: a file, a URL, or a fixed value (demo IdP). */
export type MetadataOrigin = { file: string } | { url: string } | { fixed: IdpMetadata };

/**
 * Holds an IdP's current metadata. URL and file sources are read at startup (failing startup
 * when unreadable: no IdP, no logins) and re-read on a timer; a failed refresh keeps the last
 * good copy and is logged with a code.
 */
export class IdpSource {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly origin: MetadataOrigin,
    public current: IdpMetadata,
  ) {}

  /** Loads the metadata once. @throws GatehouseError BAD_REQUEST when unreadable or invalid */
  static async open(origin: MetadataOrigin): Promise<IdpSource> {
    return new IdpSource(origin, await read(origin));
  }

  /** Re-reads the metadata every `everyMs`, keeping the last good copy on failure. */
  startRefresh(everyMs: number, log: Logger): void {
    if ('fixed' in this.origin) return;
    this.timer = setInterval(() => {
      read(this.origin).then(
        (m) => {
          this.current = m;
        },
        (err: unknown) => log.warn({ code: 'IDP_METADATA_REFRESH_FAILED', err }, 'IdP metadata refresh failed; keeping last good copy'),
      );
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Builds the origin for a connection from its config, resolving files against the config dir. */
export function originOf(conn: { idp_metadata_url?: string; idp_metadata_file?: string }, dir: string): MetadataOrigin {
  if (conn.idp_metadata_url) return { url: conn.idp_metadata_url };
  if (conn.idp_metadata_file) return { file: resolve(dir, conn.idp_metadata_file) };
  throw fail('INTERNAL', 'connection-without-metadata');
}

async function read(origin: MetadataOrigin): Promise<IdpMetadata> {
  if ('fixed' in origin) return origin.fixed;
  const text = 'file' in origin ? await readFile(origin.file, 'utf8') : await fetchText(origin.url);
  return parseIdpMetadata(text);
}

async function fetchText(url: string): Promise<string> {
  // undici follows no redirects unless told to: metadata must come from the configured URL.
  const res = await request(url, { method: 'GET', headersTimeout: FETCH_TIMEOUT_MS, bodyTimeout: FETCH_TIMEOUT_MS });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw fail('BAD_REQUEST', `metadata-http-${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_METADATA_BYTES) throw fail('BAD_REQUEST', 'metadata-too-large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
