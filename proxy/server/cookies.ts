import { randomBytes } from 'node:crypto';
import { parse, serialize, type SerializeOptions } from 'cookie';

/** Our cookie names and attributes, derived once from public_url and session settings. */
export interface CookiePolicy {
  session: string;
  login: string;
  secure: boolean;
  domain?: string;
  sessionMaxAgeS: number;
  loginMaxAgeS: number;
}

/**
 * Names follow the cookie prefixes of RFC 6265bis 4.1.3: on https a host-only cookie is
 * `__Host-` (Secure, Path=/, no Domain: sibling hosts cannot set or shadow it); with a shared
 * domain it is `__Secure-`.
 */
export function cookiePolicy(opts: { publicUrl: string; name: string; domain?: string; sessionMaxAgeMs: number; loginMaxAgeMs: number }): CookiePolicy {
  const secure = new URL(opts.publicUrl).protocol === 'https:';
  const prefix = !secure ? '' : opts.domain ? '__Secure-' : '__Host-';
  return {
    session: `${prefix}${opts.name}`,
    // Never shared across hosts, so always `__Host-` on https: a sibling host must not be able
    // to plant a login nonce (that would defeat the browser binding of logins).
    login: `${secure ? '__Host-' : ''}gatehouse_login`,
    secure,
    domain: opts.domain,
    sessionMaxAgeS: Math.floor(opts.sessionMaxAgeMs / 1000),
    loginMaxAgeS: Math.floor(opts.loginMaxAgeMs / 1000),
  };
}

/** Reads one cookie from a Cookie header without parsing it when the name is absent. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || !header.includes(name)) return undefined;
  return parse(header)[name];
}

/** Set-Cookie for the session: HttpOnly, SameSite=Lax (sent on top-level navigations only). */
export function sessionCookie(p: CookiePolicy, token: string): string {
  return serialize(p.session, token, base(p, { sameSite: 'lax', maxAge: p.sessionMaxAgeS, domain: p.domain }));
}

/**
 * Set-Cookie for the login nonce. The IdP's POST to our ACS is cross-site in production, and
 * browsers send only `SameSite=None; Secure` cookies on it; on plain-http loopback trials the IdP
 * and Gatehouse are the same site and Lax works (Chromium drops None without Secure).
 */
export function loginCookie(p: CookiePolicy, nonce: string): string {
  return serialize(p.login, nonce, base(p, { sameSite: p.secure ? 'none' : 'lax', maxAge: p.loginMaxAgeS }));
}

/** Set-Cookie that deletes a cookie of ours. */
export function clearCookie(p: CookiePolicy, name: string): string {
  return serialize(name, '', base(p, { maxAge: 0, expires: new Date(0), domain: name === p.session ? p.domain : undefined }));
}

function base(p: CookiePolicy, extra: SerializeOptions): SerializeOptions {
  return { httpOnly: true, secure: p.secure, path: '/', ...extra };
}

const NONCE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The nonce that binds logins and logouts in flight to this browser: the one its login cookie
 * already holds (so parallel logins in two tabs all stay valid), else a new random one.
 */
export function loginNonce(cookieHeader: string | undefined, p: CookiePolicy): string {
  const existing = readCookie(cookieHeader, p.login);
  return existing && NONCE.test(existing) ? existing : randomBytes(32).toString('base64url');
}
