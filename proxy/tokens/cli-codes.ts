import { createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { openText, sealText } from '../session/aead.js';
import type { StateStore } from '../store/state-store.js';

/**
 * One-time authorization codes of the CLI login (RFC 6749 4.1 with PKCE, RFC 7636; native-app
 * redirects per RFC 8252). A code is stored under its SHA-256 and its record is sealed under a
 * key derived from the code itself, so a store dump yields neither a code nor the approving
 * session's token. Redeeming takes the record out first: a code works once, and a failed
 * redemption (wrong verifier, wrong redirect_uri) burns it too (RFC 6749 4.1.2, 10.5).
 */
export const CLI_CLIENT_ID = 'gatehouse-cli';
/** The headless fallback: the code is shown in the browser and typed into the CLI. */
export const OOB_REDIRECT = 'urn:ietf:wg:oauth:2.0:oob';
/** RFC 6749 4.1.2: a maximum lifetime of 10 minutes is recommended; a login takes seconds. */
export const CODE_TTL_MS = 120_000;

const KEY_PREFIX = 'cli-code:';
const VERSION = 'c1.';
const INFO = Buffer.from('gatehouse cli code v1');
/** Typed codes: no 0/O, 1/I; 12 characters of 32 = 60 bits, live 2 minutes, one guess each. */
const TYPED = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/**
 * RFC 8252 7.3: loopback redirects on any port, `http` only. Only canonical text is accepted (no
 * userinfo, query or fragment; an explicit port; a plain path), so what was approved is exactly
 * what the browser is sent to.
 */
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost):(\d{1,5})(\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*)?$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 4.1. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** Where the code goes: a loopback listener (its port), or the page for typing it in. */
export type RedirectTarget = { kind: 'loopback'; port: number } | { kind: 'oob' };

/** What approving a CLI login recorded, bound to the code. */
export interface PendingCode {
  challenge: string;
  redirectUri: string;
  /** The approving browser session's token: it must still be live when the code is redeemed. */
  browser: string;
}

/** A loopback or oob redirect_uri, or undefined for anything else (never redirected to). */
export function checkRedirectUri(uri: string | null | undefined): RedirectTarget | undefined {
  if (uri === OOB_REDIRECT) return { kind: 'oob' };
  const m = uri ? LOOPBACK.exec(uri) : null;
  if (!m || /%(?![0-9A-Fa-f]{2})/.test(m[3] ?? '')) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65_535 ? { kind: 'loopback', port } : undefined;
}

/** True for an S256 code_challenge (base64url of a SHA-256). */
export function validChallenge(challenge: string | null | undefined): challenge is string {
  return !!challenge && CHALLENGE.test(challenge);
}

/** RFC 7636 4.6: BASE64URL(SHA256(verifier)) equals the challenge, compared in constant time. */
export function verifierMatches(verifier: string | null | undefined, challenge: string): boolean {
  if (!verifier || !VERIFIER.test(verifier)) return false;
  const got = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const want = Buffer.from(challenge);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Stores a new code for `pending`; typed codes (oob) are short and grouped, others 256-bit. */
export async function issueCode(store: StateStore, pending: PendingCode, typed: boolean): Promise<string> {
  const code = typed ? typedCode() : randomBytes(32).toString('base64url');
  const id = storeKey(code);
  await store.put(id, sealText(VERSION, keyOf(code), id, JSON.stringify(pending)), CODE_TTL_MS);
  return typed ? `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}` : code;
}

/** The record of a code, taken out of the store (so never again), or undefined. */
export async function redeemCode(store: StateStore, given: string): Promise<PendingCode | undefined> {
  const code = normalize(given);
  if (!code) return undefined;
  const id = storeKey(code);
  const sealed = await store.take(id);
  const text = sealed === undefined ? undefined : openText(VERSION, keyOf(code), id, sealed);
  return text === undefined ? undefined : (JSON.parse(text) as PendingCode);
}

function typedCode(): string {
  return [...randomBytes(12)].map((b) => TYPED[b & 31]).join('');
}

/** A typed code is accepted in any case, with or without its dashes and spaces. */
function normalize(code: string): string | undefined {
  if (code.length > 256) return undefined;
  const compact = code.replace(/[-\s]/g, '').toUpperCase();
  return code.length <= 20 && compact.length === 12 ? compact : code;
}

function storeKey(code: string): string {
  return KEY_PREFIX + createHash('sha256').update(code).digest('base64url');
}

function keyOf(code: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(code, 'utf8'), Buffer.alloc(0), INFO, 32));
}
