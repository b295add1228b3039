import type { LoadedConfig } from '../config/load.js';
import type { ConfigProblem } from '../config/problems.js';
import { locate } from '../config/yaml-source.js';
import { readSpKeys } from '../config/sp-keys.js';
import { EXPIRY_WARNING_DAYS } from '../saml/cert-expiry.js';

/** Warn this long before an SP certificate expires (as for IdP certificates): time to roll a new key in (docs/saml-keys.md). */
const SP_CERT_WARN_MS = EXPIRY_WARNING_DAYS * 86_400_000;

/**
 * `check` warnings for `saml.sp_keys` certificates that expire within 30 days (or have expired).
 * An expired SP certificate is refused by IdPs that check it (signed requests, encryption), so
 * the rollover must start before, not after.
 */
export function lintSpKeyExpiry(loaded: LoadedConfig, now = Date.now()): ConfigProblem[] {
  const keys = readSpKeys(loaded.config.saml.sp_keys, loaded.dir)?.all ?? [];
  return keys.flatMap((key, i) => {
    if (key.notAfter - now > SP_CERT_WARN_MS) return [];
    const when = new Date(key.notAfter).toISOString();
    const what = key.notAfter <= now ? `expired on ${when}` : `expires on ${when} (in ${Math.ceil((key.notAfter - now) / 86_400_000)} day(s))`;
    return [{
      file: loaded.file,
      line: loaded.source ? locate(loaded.source, ['saml', 'sp_keys', i]) : 0,
      key: `saml.sp_keys[${i}]`,
      message: `warning: SP certificate ${key.fingerprint256} ${what}: add a new key second, publish the metadata, then move it first (docs/saml-keys.md)`,
    }];
  });
}
