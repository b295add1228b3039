import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Clock } from '../clock.js';
import { fail } from '../errors.js';
import { parseIdpMetadata, type IdpMetadata } from './idp-metadata.js';
import { fetchMetadataText } from './metadata-fetch.js';
import { readPinnedCerts, verifyMetadataSignature, type MetadataSignaturePin } from './metadata-signature.js';

/** Where a connection's IdP metadata comes from: a file, a URL, or a fixed value (demo IdP). */
export type MetadataOrigin = { file: string } | { url: string } | { fixed: IdpMetadata };

/** Builds the origin for a connection from its config, resolving files against the config dir. */
export function originOf(conn: { idp_metadata_url?: string; idp_metadata_file?: string }, dir: string): MetadataOrigin {
  if (conn.idp_metadata_url) return { url: conn.idp_metadata_url };
  if (conn.idp_metadata_file) return { file: resolve(dir, conn.idp_metadata_file) };
  throw fail('INTERNAL', 'connection-without-metadata');
}

/**
 * The metadata signature pin of a connection, if it sets one (the cert file is read now).
 * @throws GatehouseError BAD_REQUEST when the cert file holds no usable certificate
 */
export function pinOf(conn: { idp_metadata_signing_cert_file?: string; idp_metadata_fingerprint?: string | string[] }, dir: string): MetadataSignaturePin | undefined {
  if (conn.idp_metadata_signing_cert_file) return { certs: readPinnedCerts(readFileSync(resolve(dir, conn.idp_metadata_signing_cert_file), 'utf8')) };
  const fp = conn.idp_metadata_fingerprint;
  if (fp !== undefined) return { fingerprints: Array.isArray(fp) ? fp : [fp] };
  return undefined;
}

/**
 * Reads, verifies (when pinned) and parses the metadata; refuses a copy past its validUntil.
 * Only the signed XML is parsed, so nothing outside the signature is ever used.
 */
export async function read(origin: MetadataOrigin, opts: { pin?: MetadataSignaturePin; clock: Clock }): Promise<IdpMetadata> {
  if ('fixed' in origin) return origin.fixed;
  const text = 'file' in origin ? await readFile(origin.file, 'utf8') : await fetchMetadataText(origin.url);
  const md = parseIdpMetadata(opts.pin ? verifyMetadataSignature(text, opts.pin) : text);
  if (md.validUntil !== undefined && md.validUntil <= opts.clock.now()) throw fail('BAD_REQUEST', 'metadata-expired');
  return md;
}
