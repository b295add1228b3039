import { randomBytes } from 'node:crypto';
import { bindingOf, boundTo } from './browser-binding.js';
import type { CacheProvider } from '@node-saml/node-saml';
import type { Clock } from '../clock.js';
import type { AuthnAsk } from './authn-context.js';
import { fail } from '../errors.js';
import type { StateStore } from '../store/state-store.js';
import type { PriorLineage } from '../session/types.js';

/** A login in flight: what the browser asked for and how to recognize that browser again. */
export interface PendingLogin {
  requestId: string;
  connection: string;
  /** Where to send the user after login: a path or URL already checked to be ours. */
  returnTo: string;
  /**
   * What the AuthnRequest asked about authentication (classes, comparison, ForceAuthn), checked
   * against the response at the ACS. Absent in records made before step-up existed: nothing asked.
   */
  ask?: AuthnAsk;
  /**
   * The id of the session this browser held when it started the login (its full cookie was
   * presented and opened): it ends once the new session exists, so a sign-in again (another
   * connection, a step-up) leaves no earlier session behind for a stolen cookie to use.
   */
  replaces?: string;
  /**
   * The browser sign-in this browser held when it started (a live session's, or the record an
   * idled-out cookie left): the new session continues it when the same user signs in through the
   * same connection (docs/cli-tokens.md, "Bound to the browser sign-in").
   */
  lineage?: PriorLineage;
  /** SHA-256 of the nonce in this browser's login cookie. */
  binding: string;
  createdAt: number;
}

/** What the browser held when a login started: the session it replaces, the sign-in it may continue. */
export type PriorSignIn = Pick<PendingLogin, 'replaces' | 'lineage'>;

/**
 * Tracks SP-initiated logins. Each login gets an opaque one-time RelayState that points to its
 * record; the record is bound to a nonce kept in a cookie of the browser that started it, so a
 * response captured or crafted elsewhere cannot be finished in another browser (login CSRF,
 * SAML profiles 4.1.3.5 on RelayState integrity).
 */
export class LoginTracker {
  constructor(
    private readonly store: StateStore,
    private readonly ttlMs: number,
    private readonly clock: Clock,
  ) {}

  /**
   * The adapter node-saml uses for its InResponseTo bookkeeping, in the same store. Removal is
   * ours alone (see `complete`): node-saml removes an ID on any failure, which would let anyone
   * who saw a RelayState cancel that login by posting garbage.
   */
  cacheProvider(): CacheProvider {
    const key = (id: string) => `req:${id}`;
    return {
      saveAsync: async (id, value) => {
        await this.store.put(key(id), value, this.ttlMs);
        return { value, createdAt: this.clock.now() };
      },
      getAsync: async (id) => (await this.store.get(key(id))) ?? null,
      removeAsync: async (id) => id,
    };
  }

  /** A fresh opaque RelayState (192 random bits). */
  newRelayState(): string {
    return randomBytes(24).toString('base64url');
  }

  /** Records a login under its RelayState, bound to the browser's nonce. */
  async start(relayState: string, login: Omit<PendingLogin, 'createdAt' | 'binding'>, nonce: string): Promise<void> {
    const record: PendingLogin = { ...login, binding: bindingOf(nonce), createdAt: this.clock.now() };
    await this.store.put(`relay:${relayState}`, JSON.stringify(record), this.ttlMs);
  }

  /**
   * Finds the login named by RelayState and checks it was started by this browser, for this
   * connection. Nothing is consumed yet: a failed attempt must not cancel someone's login.
   * @throws GatehouseError SAML_LOGIN_FAILED
   */
  async find(relayState: string, nonce: string | undefined, connection: string): Promise<PendingLogin> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(relayState)) throw fail('SAML_LOGIN_FAILED', 'relay-state-unknown');
    const raw = await this.store.get(`relay:${relayState}`);
    if (!raw) throw fail('SAML_LOGIN_FAILED', 'relay-state-unknown');
    const login = JSON.parse(raw) as PendingLogin;
    if (!boundTo(login.binding, nonce)) throw fail('SAML_LOGIN_FAILED', 'login-started-in-another-browser');
    if (login.connection !== connection) throw fail('SAML_LOGIN_FAILED', 'response-for-another-connection');
    return login;
  }

  /**
   * Consumes a login after its response verified: at most once, even under concurrent posts.
   * @throws GatehouseError SAML_LOGIN_FAILED `relay-state-unknown` when already consumed
   */
  async complete(relayState: string, requestId: string): Promise<void> {
    const raw = await this.store.take(`relay:${relayState}`);
    await this.store.delete(`req:${requestId}`);
    if (!raw) throw fail('SAML_LOGIN_FAILED', 'relay-state-unknown');
  }
}
