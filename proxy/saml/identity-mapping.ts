import type { Profile } from '@node-saml/node-saml';
import { fail } from '../errors.js';
import type { Identity } from '../policy/types.js';
import type { ConnectionConfig } from '../config/schema.js';
import { attributeNames, type AttributeNames } from './provider-presets.js';

const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const MAX_GROUPS = 1000;
const MAX_VALUE = 1024;
/** Values kept per extra claim: a claim is context for pages and audits, not a group list. */
const MAX_CLAIM_VALUES = 50;
/** Characters kept over all extra claims: the session lives in the store for hours. */
const MAX_CLAIM_CHARS = 16_384;

type MappedConnection = Pick<ConnectionConfig, 'id' | 'provider' | 'attributes' | 'group_map' | 'unmapped_groups' | 'claims'>;

/**
 * Turns a verified profile into an Identity using the connection's attribute names (its
 * provider preset with `attributes:` overrides, see provider-presets.ts), its `group_map` (sessions
 * hold the mapped names) and its `claims:`. A missing groups attribute means no groups (never an
 * error: users without groups exist, e.g. carol).
 * @param names the resolved attribute names; built once per connection by the caller
 * @throws GatehouseError SAML_LOGIN_FAILED when there is no usable user name
 */
export function mapIdentity(profile: Profile, conn: MappedConnection, names: AttributeNames = attributeNames(conn)): Identity {
  const attrs = (profile.attributes ?? {}) as Record<string, unknown>;
  const nameId = profile.nameID;
  if (!nameId || nameId.length > MAX_VALUE) throw fail('SAML_LOGIN_FAILED', 'no-name-id');
  const emailAttr = firstString(attrs[names.email]);
  const candidate = emailAttr ?? (profile.nameIDFormat === EMAIL_FORMAT ? nameId : undefined);
  // Only something shaped like an address counts: `email_domains` rules read the part after @.
  const email = candidate && /^[^@\s]+@[^@\s]+$/.test(candidate) ? candidate : undefined;
  const user = names.user ? firstString(attrs[names.user]) : nameId;
  if (!user) throw fail('SAML_LOGIN_FAILED', 'no-user-attribute');
  const sent = strings(attrs[names.groups]);
  if (sent.length > MAX_GROUPS) throw fail('SAML_LOGIN_FAILED', 'too-many-groups');
  const groups = mapGroups(sent, conn);
  // A map may turn one IdP group into several names: the cap holds after mapping too.
  if (groups.length > MAX_GROUPS) throw fail('SAML_LOGIN_FAILED', 'too-many-groups');
  const firstName = names.first_name ? firstString(attrs[names.first_name]) : undefined;
  const lastName = names.last_name ? firstString(attrs[names.last_name]) : undefined;
  const name = (names.name ? firstString(attrs[names.name]) : undefined) ?? ([firstName, lastName].filter(Boolean).join(' ') || undefined);
  const claims = extraClaims(attrs, conn.claims);
  return {
    user,
    email: email?.toLowerCase(),
    groups,
    connection: conn.id,
    ...(name ? { name } : {}),
    ...(firstName ? { firstName } : {}),
    ...(lastName ? { lastName } : {}),
    ...(claims ? { claims } : {}),
  };
}

/**
 * The configured extra claims the response carried, values as sent; capped at 50 values per
 * claim and 16 KiB in all (values past the budget are left out, in config order); undefined when none.
 */
function extraClaims(attrs: Record<string, unknown>, wanted: Readonly<Record<string, string>> | undefined): Record<string, string[]> | undefined {
  if (!wanted) return undefined;
  const out: Record<string, string[]> = {};
  let budget = MAX_CLAIM_CHARS;
  for (const [key, attr] of Object.entries(wanted)) {
    const values: string[] = [];
    for (const v of strings(Object.hasOwn(attrs, attr) ? attrs[attr] : undefined).slice(0, MAX_CLAIM_VALUES)) {
      if (v.length > budget) break;
      budget -= v.length;
      values.push(v);
    }
    if (values.length > 0) out[key] = values;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Applies the connection's `group_map`: an IdP value the map names (exact, case-sensitive: an ID
 * that merely resembles a mapped one is a different group) becomes its policy name(s); the rest
 * are kept or dropped per `unmapped_groups`. Without a map, groups pass as sent. Deduplicated.
 */
export function mapGroups(sent: readonly string[], conn: Pick<ConnectionConfig, 'group_map' | 'unmapped_groups'>): string[] {
  const map = conn.group_map;
  if (!map) return [...new Set(sent)];
  const out = new Set<string>();
  for (const g of sent) {
    // Own keys only: a group named `constructor` or `toString` is not in the map.
    const target = Object.hasOwn(map, g) ? map[g] : undefined;
    if (target !== undefined) for (const name of typeof target === 'string' ? [target] : target) out.add(name);
    else if (conn.unmapped_groups === 'keep') out.add(g);
  }
  return [...out];
}

function strings(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list.filter((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= MAX_VALUE);
}

function firstString(v: unknown): string | undefined {
  return strings(v)[0];
}
