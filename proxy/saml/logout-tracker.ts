import { randomBytes } from 'node:crypto';
import { bindingOf, boundTo } from './browser-binding.js';
import { fail } from '../errors.js';
import type { StateStore } from '../store/state-store.js';

/** An SP-initiated logout waiting for the IdP's LogoutResponse. */
export interface PendingLogout {
  /** ID of our LogoutRequest: the response's InResponseTo must be this. */
  requestId: string;
  connection: string;
  /** SHA-256 of the nonce in the login cookie of the browser that signed out. */
  binding: string;
}

/**
 * Tracks logouts sent to IdPs, like LoginTracker tracks logins: an opaque one-time RelayState
 * names the record, and the record is bound to this browser's nonce, so a LogoutResponse
 * captured or made for another browser is refused (SAML profiles 4.4.4.2: the SP checks that
 * the response answers a request it sent). Records live in the shared state store under `slo:`.
 */
export class LogoutTracker {
  constructor(
    private readonly store: StateStore,
    private readonly ttlMs: number,
  ) {}

  /** Records our request and returns the RelayState to send with it. */
  async start(logout: Omit<PendingLogout, 'binding'>, nonce: string): Promise<string> {
    const relayState = randomBytes(24).toString('base64url');
    await this.store.put(`slo:${relayState}`, JSON.stringify({ ...logout, binding: bindingOf(nonce) }), this.ttlMs);
    return relayState;
  }

  /**
   * Consumes the pending logout a response answers, once: same browser, same connection, and
   * InResponseTo naming our request. A failed check consumes nothing.
   * @throws GatehouseError SAML_LOGOUT_FAILED
   */
  async finish(relayState: string | undefined, nonce: string | undefined, connection: string, inResponseTo: string | undefined): Promise<void> {
    if (!relayState || !/^[A-Za-z0-9_-]{32}$/.test(relayState)) throw fail('SAML_LOGOUT_FAILED', 'logout-relay-state-unknown');
    const raw = await this.store.get(`slo:${relayState}`);
    if (!raw) throw fail('SAML_LOGOUT_FAILED', 'logout-relay-state-unknown');
    const pending = JSON.parse(raw) as PendingLogout;
    if (!boundTo(pending.binding, nonce)) throw fail('SAML_LOGOUT_FAILED', 'logout-started-in-another-browser');
    if (pending.connection !== connection) throw fail('SAML_LOGOUT_FAILED', 'logout-response-for-another-connection');
    if (!inResponseTo || inResponseTo !== pending.requestId) throw fail('SAML_LOGOUT_FAILED', 'logout-in-response-to-mismatch');
    if ((await this.store.take(`slo:${relayState}`)) === undefined) throw fail('SAML_LOGOUT_FAILED', 'logout-relay-state-unknown');
  }
}
