import { SERVICE_CONNECTION } from '../config/service-account-rules.js';
import type { SessionAdmin } from '../session/session-admin.js';
import { parseToken } from '../session/session-keys.js';
import type { SessionManager } from '../session/session-manager.js';
import type { Session, SessionMeta } from '../session/types.js';
import { innerToken, withPrefix } from './prefixes.js';
import type { ServiceAccount, ServiceAccounts } from './service-accounts.js';

/**
 * Service-account tokens: `gts_<id>.<key>`, where `<id>.<key>` is the token of a session made
 * with `client: 'service'` for the account's identity. As for every session, the store keeps the
 * id and a value sealed under HKDF(key): the secret half is never stored, so a store dump
 * yields no usable token. Revocation, expiry and every instance's cache work as for cookies.
 */

/** What minting and opening need (an AppContext has it). */
export interface ServiceTokenContext {
  sessions: SessionManager;
  /** The accounts of the serving config: a token of an account no longer there opens nothing. */
  serviceAccounts: ServiceAccounts;
}

/** A service token as administrators see it: never its secret. */
export interface ServiceTokenSummary {
  id: string;
  serviceAccount: string;
  createdAt: number;
  expiresAt: number;
  /** Last request made with it (written back at most once a minute). */
  lastUsedAt: number;
}

/** A freshly minted token: `token` is shown once and never stored or logged. */
export interface MintedToken {
  token: string;
  id: string;
  expiresAt: number;
}

/** Mints a token for `account` living `ttlMs` (the caller checks it against `max_ttl`). */
export async function mintServiceToken(ctx: Pick<ServiceTokenContext, 'sessions'>, account: ServiceAccount, ttlMs: number): Promise<MintedToken> {
  // No SAML login stands behind it: the NameID is the account name, no IdP, no SessionIndex
  // (so no Single Logout index entry); the session index files it under the account name.
  const { token, session } = await ctx.sessions.create(account.identity, { nameId: account.name }, { client: 'service', lifetimeMs: ttlMs });
  return { token: withPrefix('service', token), id: parseToken(token)!.id, expiresAt: session.expiresAt };
}

/**
 * The session a `gts_` token stands for, with the identity of its account as the CURRENT config
 * says (groups included), or undefined: malformed, forged, expired, revoked, not a service
 * session (a cookie or CLI token with the prefix added), or its account removed from the config.
 * The session id comes with it (what logs and listings name the token by).
 * @throws GatehouseError SESSION_STORE_UNAVAILABLE when the store cannot be asked (fail closed)
 */
export async function openServiceToken(ctx: ServiceTokenContext, token: string): Promise<{ session: Session; id: string } | undefined> {
  const inner = innerToken('service', token);
  if (!inner) return undefined;
  const session = await ctx.sessions.open(inner.token);
  if (!session || session.client !== 'service' || session.identity.connection !== SERVICE_CONNECTION) return undefined;
  const account = ctx.serviceAccounts.get(session.identity.user);
  return account ? { session: { ...session, identity: account.identity }, id: inner.id } : undefined;
}

/**
 * Live service tokens, newest first: of one account (configured or not: tokens of a removed
 * account open nothing but can still be listed and revoked), else of every configured account.
 * Read through the session index of the account name, keeping service sessions only.
 */
export async function listServiceTokens(admin: SessionAdmin, accounts: ServiceAccounts, name?: string): Promise<{ tokens: ServiceTokenSummary[]; truncated: boolean }> {
  const names = name !== undefined ? [name] : [...accounts.keys()];
  const lists = await Promise.all(names.map((n) => admin.list(n)));
  const tokens = lists
    .flatMap((l, i) => l.sessions.filter((s) => isServiceMeta(s, names[i]!)))
    .map((s) => ({ id: s.id, serviceAccount: s.user, createdAt: s.createdAt, expiresAt: s.expiresAt, lastUsedAt: s.lastSeenAt }))
    .sort((a, b) => b.createdAt - a.createdAt);
  return { tokens, truncated: lists.some((l) => l.truncated) };
}

/**
 * The service token with this id, if live (an id alone opens nothing: it is what listings show).
 * Other sessions are not service tokens: this never finds (or revokes) a browser or CLI session.
 */
export async function findServiceToken(admin: SessionAdmin, id: string): Promise<SessionMeta | undefined> {
  const meta = await admin.meta(id);
  return meta && meta.client === 'service' && meta.connection === SERVICE_CONNECTION ? meta : undefined;
}

function isServiceMeta(meta: SessionMeta, name: string): boolean {
  return meta.client === 'service' && meta.connection === SERVICE_CONNECTION && meta.user === name;
}
