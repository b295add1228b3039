import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { ConfigProblem } from '../config/problems.js';
import { locate } from '../config/yaml-source.js';
import { isGatehouseError } from '../errors.js';
import { expiringCerts } from '../saml/cert-expiry.js';
import { parseIdpMetadata } from '../saml/idp-metadata.js';
import { pinOf } from '../saml/idp-source.js';
import { fetchMetadataText } from '../saml/metadata-fetch.js';
import { verifyMetadataSignature } from '../saml/metadata-signature.js';

/** How long `gatehouse check` waits for a metadata URL (head, then body). */
export const CHECK_FETCH_TIMEOUT_MS = 5_000;

/** What the metadata check found: problems fail the check; warnings only with --strict. */
export interface MetadataFindings {
  problems: ConfigProblem[];
  warnings: ConfigProblem[];
}

/**
 * Reads every connection's IdP metadata as `serve` would (the file, or the URL fetched with a
 * timeout unless `offline`), verifying the pinned signature: unusable, unsigned, badly signed or
 * expired (validUntil) metadata is a problem. Signing certificates expiring within 30 days (or
 * expired), a plain-http metadata URL without a signature pin (anyone on the path can swap
 * the IdP's keys) and pinned metadata without validUntil (rollback undetectable) are warnings. Loopback http URLs are not warned about.
 */
export async function checkMetadata(loaded: LoadedConfig, nowMs: number, opts: { offline?: boolean; timeoutMs?: number } = {}): Promise<MetadataFindings> {
  const found: MetadataFindings = { problems: [], warnings: [] };
  const file = loaded.source?.file ?? loaded.file;
  await Promise.all(
    loaded.config.saml.connections.map(async (c, i) => {
      const kind = c.idp_metadata_file ? 'idp_metadata_file' : c.idp_metadata_url ? 'idp_metadata_url' : undefined;
      if (!kind) return;
      const at = (key: string, message: string): ConfigProblem => ({ file, line: loaded.source ? locate(loaded.source, ['saml', 'connections', i, key]) : 0, key: `saml.connections[${i}].${key}`, message });
      if (c.idp_metadata_url && !c.idp_metadata_signing_cert_file && !c.idp_metadata_fingerprint && insecureUrl(c.idp_metadata_url)) {
        found.warnings.push(at(kind, 'warning: metadata over plain http without a signature pin (idp_metadata_fingerprint or idp_metadata_signing_cert_file): anyone on the path can replace the IdP keys'));
      }
      if (kind === 'idp_metadata_url' && opts.offline) return;
      try {
        const pin = pinOf(c, loaded.dir);
        const text = c.idp_metadata_file ? readFileSync(resolve(loaded.dir, c.idp_metadata_file), 'utf8') : await fetchMetadataText(c.idp_metadata_url!, opts.timeoutMs ?? CHECK_FETCH_TIMEOUT_MS);
        const md = parseIdpMetadata(pin ? verifyMetadataSignature(text, pin) : text);
        if (md.validUntil !== undefined && md.validUntil <= nowMs) throw Object.assign(new Error(), { reason: `metadata-expired (validUntil ${new Date(md.validUntil).toISOString()})` });
        if (pin && md.validUntil === undefined) {
          const pinKey = c.idp_metadata_signing_cert_file ? 'idp_metadata_signing_cert_file' : 'idp_metadata_fingerprint';
          found.warnings.push(at(pinKey, 'warning: the pinned metadata carries no validUntil: an older copy the IdP once signed (with a retired key) cannot be told from a newer one, so the pin cannot prevent rollback'));
        }
        for (const e of expiringCerts(md, nowMs)) {
          const when = e.daysLeft < 0 ? `expired on ${e.notAfter}` : `expires on ${e.notAfter} (${e.daysLeft} day(s) left)`;
          found.warnings.push(at(kind, `warning: IdP signing certificate ${e.fingerprint} ${when}`));
        }
      } catch (e) {
        const why = isGatehouseError(e) ? e.reason : ((e as { reason?: string }).reason ?? (e as Error).message);
        found.problems.push(at(kind, `not usable IdP metadata: ${why}`));
      }
    }),
  );
  return found;
}

function insecureUrl(url: string): boolean {
  const u = new URL(url);
  if (u.protocol !== 'http:') return false;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  return !loopback;
}
