/**
 * Header hygiene between client and upstream: first strip, then add ours.
 * Works on Node's rawHeaders (flat [name, value, ...]) so duplicates and every spelling are seen.
 */
import { FORWARDING } from '../config/fields.js';
import { carriesGatehouseToken } from '../tokens/prefixes.js';

/** RFC 9110 7.6.1 hop-by-hop headers, plus legacy ones proxies must not forward (Gatehouse and `gatehouse tunnel`). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  // httpoxy (CVE-2016-5385): CGI-style upstreams turn `Proxy:` into HTTP_PROXY.
  'proxy',
]);

/** Client-sent forwarding headers are never trusted: Gatehouse is the edge and sets its own. */

/** The names one strips for, built once at startup. */
export interface StripSet {
  /** Lowercase, with `_` folded to `-`. */
  names: ReadonlySet<string>;
  /** Cookie names of our own, removed from the Cookie header. */
  cookies: readonly string[];
  /** Our cookie names lowercased without `__Host-`/`__Secure-`: upstream Set-Cookie for these is dropped. */
  cookieBases: ReadonlySet<string>;
}

/** Builds the strip set from every identity header name any route uses, and our cookie names. */
export function buildStripSet(identityHeaderNames: Iterable<string>, cookies: string[]): StripSet {
  const names = new Set<string>(FORWARDING);
  for (const n of identityHeaderNames) names.add(fold(n));
  return { names, cookies, cookieBases: new Set(cookies.map(cookieBase)) };
}

function cookieBase(name: string): string {
  return name.trim().toLowerCase().replace(/^__(host|secure)-/, '');
}

/**
 * Copies request headers for the upstream, dropping hop-by-hop headers, headers the client
 * named in `Connection`, every client copy of identity and forwarding headers (any case, `_`
 * for `-`, duplicates: the underscore smuggling oauth2-proxy had to fix), and our
 * own cookies, and an `Authorization` carrying one of our tokens. With `keepUpgrade` (websocket
 * handshakes) the client's Upgrade is kept, and the
 * caller sends its own `Connection: Upgrade` (the client's might name our headers) and no body.
 * Returns a flat [name, value, ...] array to extend with our headers.
 */
export function cleanRequestHeaders(raw: readonly string[], strip: StripSet, keepUpgrade = false): string[] {
  const connectionListed = listedInConnection(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // `_` and `-` are folded together: some upstreams (CGI, WSGI, PHP) read them as one.
    const lower = fold(name);
    if (HOP_BY_HOP.has(lower) && !(keepUpgrade && lower === 'upgrade')) continue;
    if (keepUpgrade && (lower === 'content-length')) continue;
    if (connectionListed?.has(lower) || strip.names.has(lower)) continue;
    // Gatehouse's own tokens never reach an upstream (Proxy-Authorization is hop-by-hop above);
    // any other Authorization is the upstream's own and passes.
    if (lower === 'authorization' && carriesGatehouseToken(raw[i + 1]!)) continue;
    if (lower === 'cookie') {
      const kept = dropCookies(raw[i + 1]!, strip.cookies);
      if (kept) out.push(name, kept);
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  return out;
}

/**
 * Response headers from the upstream, minus hop-by-hop and Connection-listed ones, and minus any
 * Set-Cookie for one of our cookies (in any case or prefix): an upstream must not be able to plant
 * or clear a Gatehouse session in the browser (session fixation, forced logout). Also minus any
 * WWW-Authenticate challenge naming our realm: clients (the CLI's tunnel among them) read
 * `realm="gatehouse"` as Gatehouse refusing their token, and its `login_url` as where to sign in.
 */
export function cleanResponseHeaders(raw: readonly (string | Buffer)[], ourCookies?: ReadonlySet<string>): string[] {
  const asText = raw.every((x) => typeof x === 'string') ? (raw as readonly string[]) : raw.map((x) => (typeof x === 'string' ? x : x.toString('latin1')));
  const listed = listedInConnection(asText);
  const out: string[] = [];
  for (let i = 0; i < asText.length; i += 2) {
    const lower = asText[i]!.toLowerCase();
    if ((HOP_BY_HOP.has(lower) && lower !== 'host') || listed?.has(lower)) continue;
    const value = asText[i + 1]!;
    if (ourCookies && lower === 'set-cookie' && ourCookies.has(cookieBase(value.slice(0, value.indexOf('=') >>> 0)))) continue;
    if (lower === 'www-authenticate' && OUR_REALM.test(value)) continue;
    out.push(asText[i]!, value);
  }
  return out;
}

/** A challenge naming Gatehouse's realm (error-body.ts), in any case or quoting. */
const OUR_REALM = /\brealm\s*=\s*(?:"gatehouse"|gatehouse\s*(?:,|$))/i;

function listedInConnection(raw: readonly string[]): Set<string> | undefined {
  let set: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const t = fold(token.trim());
      if (t && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade') (set ??= new Set()).add(t);
    }
  }
  return set;
}

/** Removes our cookies from a Cookie header value; '' when nothing is left. */
export function dropCookies(header: string, names: readonly string[]): string {
  if (!names.some((n) => header.includes(n))) return header;
  return header
    .split(';')
    .filter((pair) => !names.includes(pair.slice(0, pair.indexOf('=') >>> 0).trim()))
    .map((p) => p.trim())
    .filter(Boolean)
    .join('; ');
}

const folded = new Map<string, string>();

/** Lowercase with `_` as `-`; memoized, since clients send the same few spellings again and again. */
export function fold(name: string): string {
  let f = folded.get(name);
  if (f === undefined) {
    const lower = name.toLowerCase();
    f = lower.includes('_') ? lower.replaceAll('_', '-') : lower;
    if (folded.size >= 4096) folded.clear();
    folded.set(name, f);
  }
  return f;
}
