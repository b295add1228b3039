import { fail } from './errors.js';

/** The request target, split and normalized once; the path checked is the path forwarded. */
export interface RequestTarget {
  /** Normalized path: no dot segments, no empty segments, canonical percent-encoding. */
  path: string;
  /** Raw query including its `?`, or '' (never used for routing or policy). */
  query: string;
}

/**
 * True for Gatehouse's own paths (`/.gatehouse/...` and `/.well-known/gatehouse/...`, the public
 * discovery documents): served here, never routed or forwarded.
 */
export function isReserved(path: string): boolean {
  return path.startsWith('/.gatehouse/') || path === '/.gatehouse' || path.startsWith('/.well-known/gatehouse/') || path === '/.well-known/gatehouse';
}

/** Characters allowed raw in a path (RFC 3986 pchar minus `;`, plus `/`). */
const PLAIN = /^\/[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;
/**
 * Characters whose percent-encoding is decoded: the unreserved ones (RFC 3986 6.2.2.2) and the
 * sub-delimiters, `:` and `@` that a path segment may carry raw (RFC 3986 3.3), except `*`, the
 * wildcard of policy patterns. A decoding upstream (nearly all of them) reads `m%3Apredict` as
 * `m:predict`; keeping the escape would let a policy written `*:predict` miss it.
 */
const DECODED = /[A-Za-z0-9\-._~!$&'()+,=:@]/;
const HEX = /^[0-9A-Fa-f]{2}$/;
/** Longest request target accepted (as nginx's default 8 KB header buffer): 414 beyond. */
export const MAX_TARGET_BYTES = 8192;

/**
 * Normalizes the path of an origin-form request target (RFC 9112 3.2.1) and refuses anything a
 * later parser could read differently from us:
 * - `%2F`, `%5C` and `%00`: an upstream that decodes them sees a different path (oauth2-proxy and
 *   nginx advisories); also every encoded control character and double encoding (`%25XX`);
 * - backslashes, `;` path parameters (Tomcat-style `/admin;x/` splitting), `#`, raw non-ASCII;
 * - `..` that climbs above the root.
 * Percent-encoded unreserved characters are decoded (RFC 3986 6.2.2.2) so `%2e%2e` is a dot
 * segment here exactly as it would be upstream, and so are encoded sub-delimiters, `:` and `@`
 * (see DECODED) so `%3A` is the `:` a policy names; dot segments are removed (RFC 3986 5.2.4);
 * runs of `/` collapse to one. Case is kept: paths are case-sensitive.
 * @throws GatehouseError BAD_PATH or BAD_REQUEST
 */
export function parseRequestTarget(url: string | undefined): RequestTarget {
  if (!url || url.charCodeAt(0) !== 47 /* / */) throw fail('BAD_REQUEST', 'target-not-origin-form');
  if (url.length > MAX_TARGET_BYTES) throw fail('URI_TOO_LONG', 'target-too-long');
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  if (PLAIN.test(raw) && !raw.includes('//') && !raw.includes('/.')) return { path: raw, query };
  return { path: normalizePath(raw), query };
}

/** The slow path of {@link parseRequestTarget}: decode, check, remove dot segments. */
export function normalizePath(raw: string): string {
  const decoded = decodeUnreserved(raw);
  // `%25` followed by hex, even when the hex itself arrived encoded (`%25%32%65`), is a
  // double encoding: an upstream that decodes twice would see another path.
  if (/%25[0-9A-Fa-f]{2}/.test(decoded)) throw fail('BAD_PATH', 'double-encoding');
  const segments = decoded.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) throw fail('BAD_PATH', 'path-climbs-above-root');
      out.pop();
      continue;
    }
    out.push(seg);
  }
  const last = segments[segments.length - 1];
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

function decodeUnreserved(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) throw fail('BAD_PATH', 'malformed-percent-encoding');
      out += decodeByte(hex);
      i += 2;
      continue;
    }
    if (!/[A-Za-z0-9\-._~!$&'()*+,=:@/]/.test(ch)) throw fail('BAD_PATH', forbiddenReason(ch));
    out += ch;
  }
  return out;
}

function decodeByte(hex: string): string {
  const code = parseInt(hex, 16);
  const ch = String.fromCharCode(code);
  if (code === 0x2f || code === 0x5c) throw fail('BAD_PATH', 'encoded-slash');
  if (code === 0x00) throw fail('BAD_PATH', 'encoded-nul');
  if (code < 0x20 || code === 0x7f) throw fail('BAD_PATH', 'encoded-control-character');
  // `;` starts a path parameter for Tomcat-style upstreams whether it arrives raw or encoded.
  if (code === 0x3b) throw fail('BAD_PATH', 'path-parameter');
  return DECODED.test(ch) ? ch : `%${hex.toUpperCase()}`;
}

/**
 * A path pattern in the form requests take after normalization: the escapes {@link
 * normalizePath} decodes are decoded (`%3A` -> `:`), the others upper-cased. Patterns are
 * validated by the schema (no `%2F`, well-formed escapes).
 */
export function canonicalPattern(pattern: string): string {
  return pattern.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return DECODED.test(ch) ? ch : escape.toUpperCase();
  });
}

function forbiddenReason(ch: string): string {
  if (ch === '\\') return 'backslash';
  if (ch === ';') return 'path-parameter';
  if (ch === '#') return 'fragment-in-target';
  return 'forbidden-character';
}
